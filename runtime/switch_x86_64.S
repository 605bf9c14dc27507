/* switch_x86_64.S — goroutine context switch for x86-64 (System V ABI).
 *
 * gort__switch(void **save_sp, void *new_sp) pushes the callee-saved
 * registers (rbp, rbx, r12-r15) and the FPU control words (mxcsr, x87 cw)
 * on the current stack, stores the stack pointer in *save_sp, loads new_sp
 * and pops the same frame from there.  No signal mask, no system call.
 *
 * The switch frame, from the saved sp upwards (64 bytes; gort-gdb.py and
 * gort__frame_init depend on this layout):
 *   +0 mxcsr (4) | x87 control word (2) | pad (2)
 *   +8 r15  +16 r14  +24 r13  +32 r12  +40 rbx  +48 rbp  +56 return address
 *
 * A new goroutine starts in gort__g_trampoline with r12 = its gort__g and
 * rbp = 0 (the end of the frame-pointer chain).
 */
#if defined(__x86_64__)
	.text
	.globl	gort__switch
	.hidden	gort__switch
	.type	gort__switch, @function
	.p2align 4
gort__switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$8, %rsp
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	gort__switch, .-gort__switch

	.globl	gort__g_trampoline
	.hidden	gort__g_trampoline
	.type	gort__g_trampoline, @function
	.p2align 4
gort__g_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r12, %rdi
	call	gort__g_entry
	ud2
	.cfi_endproc
	.size	gort__g_trampoline, .-gort__g_trampoline

/* void *gort__frame_init(void *top, gort__g *g): builds the first switch
 * frame of a goroutine below top (16-byte aligned) and returns its sp. */
	.globl	gort__frame_init
	.hidden	gort__frame_init
	.type	gort__frame_init, @function
	.p2align 4
gort__frame_init:
	.cfi_startproc
	leaq	-64(%rdi), %rax
	movl	$0x1f80, (%rax)
	movl	$0x037f, 4(%rax)
	movq	$0, 8(%rax)
	movq	$0, 16(%rax)
	movq	$0, 24(%rax)
	movq	%rsi, 32(%rax)
	movq	$0, 40(%rax)
	movq	$0, 48(%rax)
	leaq	gort__g_trampoline(%rip), %rcx
	movq	%rcx, 56(%rax)
	ret
	.cfi_endproc
	.size	gort__frame_init, .-gort__frame_init
#endif
	.section .note.GNU-stack,"",%progbits
