/* switch_aarch64.S — goroutine context switch for AArch64 (AAPCS64).
 *
 * gort__switch(void **save_sp, void *new_sp) stores the callee-saved
 * registers x19-x28, the frame pointer x29, the link register x30, the
 * low halves d8-d15 of v8-v15 and fpcr in a 176-byte frame on the current
 * stack, stores sp in *save_sp, loads new_sp and restores the same frame
 * from there, then returns through x30.  No signal mask, no system call.
 *
 * The switch frame, from the saved sp upwards (gort-gdb.py depends on it):
 *   +0 x19 x20  +16 x21 x22  +32 x23 x24  +48 x25 x26  +64 x27 x28
 *   +80 x29 (fp)  +88 x30 (lr, the resume address)
 *   +96 d8 d9  +112 d10 d11  +128 d12 d13  +144 d14 d15  +160 fpcr  +168 pad
 *
 * A new goroutine starts in gort__g_trampoline with x19 = its gort__g and
 * x29 = 0 (the end of the frame-pointer chain).
 */
#if defined(__aarch64__)
	.text
	.globl	gort__switch
	.hidden	gort__switch
	.type	gort__switch, %function
	.p2align 4
gort__switch:
	.cfi_startproc
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]
	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1
	ldr	x9, [sp, #160]
	msr	fpcr, x9
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	ret
	.cfi_endproc
	.size	gort__switch, .-gort__switch

	.globl	gort__g_trampoline
	.hidden	gort__g_trampoline
	.type	gort__g_trampoline, %function
	.p2align 4
gort__g_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x19
	bl	gort__g_entry
	brk	#0
	.cfi_endproc
	.size	gort__g_trampoline, .-gort__g_trampoline

/* void *gort__frame_init(void *top, gort__g *g): builds the first switch
 * frame of a goroutine below top (16-byte aligned) and returns its sp. */
	.globl	gort__frame_init
	.hidden	gort__frame_init
	.type	gort__frame_init, %function
	.p2align 4
gort__frame_init:
	.cfi_startproc
	sub	x9, x0, #176
	mov	x10, #0
	mov	x11, #0
	.irp	off, 0, 16, 32, 48, 64, 96, 112, 128, 144
	stp	x10, x11, [x9, #\off]
	.endr
	str	x1, [x9, #0]
	adrp	x12, gort__g_trampoline
	add	x12, x12, :lo12:gort__g_trampoline
	stp	xzr, x12, [x9, #80]
	str	xzr, [x9, #160]
	str	xzr, [x9, #168]
	mov	x0, x9
	ret
	.cfi_endproc
	.size	gort__frame_init, .-gort__frame_init
#endif
	.section .note.GNU-stack,"",%progbits
