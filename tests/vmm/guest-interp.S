/* SPDX-License-Identifier: MIT */
/*
 * tests/vmm/guest-interp.S - a guest for the KVM tests: runs at CPL3 in
 * 64-bit mode (tools/vmm/x86.c sets it up) and executes a list of commands
 * the test wrote into guest RAM, so one guest serves every test.
 *
 * A command is 24 bytes at CMDS + 24 * i: u32 op, u32 size, u64 addr,
 * u64 value. Ops: 1 load size bytes at addr, the value goes to
 * RESULTS[i]; 2 store value; 3 port out; 4 port in, to RESULTS[i];
 * 0 end: write 0 to the exit port, then spin until the test stops the
 * vCPU. Sizes are 1, 2, 4 or 8 (ports: 1, 2, 4).
 */
        .set CMDS,     0x3000
        .set RESULTS,  0x8000
        .set EXITPORT, 0x501

        .section .rodata.guest_interp, "a"
        .globl gm_test_guest_start, gm_test_guest_end
        .code64
gm_test_guest_start:
        mov     $CMDS, %ebx
        mov     $RESULTS, %r12d
next:
        mov     (%rbx), %eax            /* op */
        mov     4(%rbx), %ecx           /* size */
        mov     8(%rbx), %rsi           /* addr */
        mov     16(%rbx), %rdx          /* value */
        cmp     $1, %eax
        je      load
        cmp     $2, %eax
        je      store
        cmp     $3, %eax
        je      pout
        cmp     $4, %eax
        je      pin
        /* end */
        mov     $EXITPORT, %dx
        xor     %eax, %eax
        outw    %ax, %dx
1:      pause
        jmp     1b

load:
        xor     %eax, %eax
        cmp     $1, %ecx
        jne     1f
        movzbl  (%rsi), %eax
        jmp     saved
1:      cmp     $2, %ecx
        jne     1f
        movzwl  (%rsi), %eax
        jmp     saved
1:      cmp     $4, %ecx
        jne     1f
        mov     (%rsi), %eax
        jmp     saved
1:      mov     (%rsi), %rax
saved:
        mov     %rax, (%r12)
        jmp     step

store:
        mov     %rdx, %rax
        cmp     $1, %ecx
        jne     1f
        mov     %al, (%rsi)
        jmp     step
1:      cmp     $2, %ecx
        jne     1f
        mov     %ax, (%rsi)
        jmp     step
1:      cmp     $4, %ecx
        jne     1f
        mov     %eax, (%rsi)
        jmp     step
1:      mov     %rax, (%rsi)
        jmp     step

pout:
        mov     %rdx, %rax
        mov     %esi, %edx              /* port */
        cmp     $1, %ecx
        jne     1f
        outb    %al, %dx
        jmp     step
1:      cmp     $2, %ecx
        jne     1f
        outw    %ax, %dx
        jmp     step
1:      outl    %eax, %dx
        jmp     step

pin:
        mov     %esi, %edx
        xor     %eax, %eax
        cmp     $1, %ecx
        jne     1f
        inb     %dx, %al
        jmp     saved
1:      cmp     $2, %ecx
        jne     1f
        inw     %dx, %ax
        jmp     saved
1:      inl     %dx, %eax
        jmp     saved

step:
        add     $24, %rbx
        add     $8, %r12
        jmp     next
gm_test_guest_end:

        .section .note.GNU-stack, "", @progbits
