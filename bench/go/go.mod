module godaemon/bench/gobench

go 1.19
