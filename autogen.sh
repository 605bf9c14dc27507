#!/bin/sh
# autogen.sh — regenerate the build system (configure, Makefile.in) from
# configure.ac and Makefile.am.  Needs autoconf, automake, libtool, pkg-config.
set -e
cd "$(dirname "$0")"
autoreconf --force --install --warnings=all
