/* SPDX-License-Identifier: MIT */
/*
 * tools/vmm/guest.S - the mini VMM's built-in guest: x86-64 code that runs
 * at CPL3 (the VMM enters it in long mode with paging through
 * KVM_SET_SREGS, IOPL 3 so port I/O works), position-independent, loaded
 * at the board's entry address.
 *
 * Entry: %rdi = vCPU number, %rsi = number of vCPUs, %rsp = its stack.
 * vCPU 0 runs the whole script below and reports each step on the UART;
 * the others fill their own slice of RAM and ring the doorbell. Every vCPU
 * ends by writing (its number << 8 | status) to the exit port: status 0
 * means every check passed. The addresses are the default board's
 * (vmm_default_board() in tools/vmm/devices.c).
 */
        .set UART,       0x3f8
        .set EXITPORT,   0x501
        .set FB,         0xa0000        /* VGA framebuffer, 128 KiB */
        .set FB_PAGES,   8              /* pages of it the guest writes */
        .set RAMFILL,    0x200000       /* vCPU 0 fills 1 MiB here */
        .set SLICE,      0x400000       /* vCPU n fills 256 KiB at + n MiB */
        .set BIOS,       0xf0000        /* ROM */
        .set BIOS_ALIAS, 0xffff0000     /* the ROM again, near 4 GiB */
        .set FLASH,      0xfe000000     /* ROM device */
        .set DOORBELL,   0xfeb00000     /* +0 ioeventfd (data 1), +4 a register */

        .section .rodata.guest, "a"
        .globl gm_guest_start, gm_guest_end
        .code64
gm_guest_start:
        mov     %rdi, %r15              /* vCPU number */
        xor     %r14d, %r14d            /* status: failed checks */
        test    %rdi, %rdi
        jnz     secondary

        lea     msg_hello(%rip), %rbx
        call    puts

        /* Fill 1 MiB of RAM with a pattern. */
        mov     $RAMFILL, %rdi
        mov     $(0x100000 / 8), %rcx
        movabs  $0x6775657374726d67, %rax
        rep stosq
        lea     msg_ram(%rip), %rbx
        call    puts

        /* Write FB_PAGES pages of the framebuffer. */
        mov     $FB, %rdi
        mov     $(FB_PAGES * 4096 / 8), %rcx
        movabs  $0x00ff00ff00ff00ff, %rax
        rep stosq
        lea     msg_fb(%rip), %rbx
        call    puts

        /* The doorbell: three matching rings, one that does not match. */
        mov     $DOORBELL, %edi         /* zero-extends to %rdi */
        movl    $1, (%rdi)
        movl    $1, (%rdi)
        movl    $1, (%rdi)
        movl    $2, (%rdi)
        movl    $0x77, 4(%rdi)
        lea     msg_bell(%rip), %rbx
        call    puts

        /* Read the ROM, and its alias. */
        mov     $BIOS, %rdi
        mov     (%rdi), %rax
        movabs  $0x534f49424d47, %rdx    /* "GMBIOS\0\0" */
        cmp     %rdx, %rax
        je      1f
        inc     %r14
        lea     msg_bad(%rip), %rbx
        call    puts
1:      mov     $BIOS_ALIAS, %edi
        cmp     (%rdi), %rdx
        je      1f
        inc     %r14
1:      lea     msg_rom(%rip), %rbx
        call    puts

        /* Try to write the ROM: the write must be ignored. */
        mov     $BIOS, %rdi
        movb    $0x55, (%rdi)
        cmpb    $'G', (%rdi)
        je      1f
        inc     %r14
        lea     msg_bad(%rip), %rbx
        call    puts
1:      lea     msg_romw(%rip), %rbx
        call    puts

        /* The flash: array mode, then ID mode (out of romd), then back. */
        mov     $FLASH, %edi
        cmpl    $0x48534c46, (%rdi)     /* "FLSH" */
        je      1f
        inc     %r14
1:      movb    $0x90, (%rdi)           /* read ID: the device leaves romd */
        cmpb    $0x89, (%rdi)           /* manufacturer ID */
        je      1f
        inc     %r14
1:      movb    $0xff, (%rdi)           /* read array: back in romd */
        cmpl    $0x48534c46, (%rdi)
        je      1f
        inc     %r14
1:      lea     msg_flash(%rip), %rbx
        call    puts

        test    %r14, %r14
        jz      1f
        lea     msg_bad(%rip), %rbx
        call    puts
1:      lea     msg_bye(%rip), %rbx
        call    puts
        jmp     done

secondary:
        /* Fill 256 KiB at SLICE + n MiB with n, ring the doorbell. */
        mov     %r15, %rdi
        shl     $20, %rdi
        add     $SLICE, %rdi
        mov     $(0x40000 / 8), %rcx
        mov     %r15, %rax
        rep stosq
        mov     $DOORBELL, %edi         /* zero-extends to %rdi */
        movl    $1, (%rdi)

done:
        mov     %r15, %rax
        shl     $8, %rax
        or      %r14, %rax
        mov     $EXITPORT, %dx
        outw    %ax, %dx
1:      pause                           /* the VMM stops the vCPU */
        jmp     1b

/* Print the NUL-terminated string at %rbx on the UART. */
puts:
        mov     $UART, %dx
1:      movb    (%rbx), %al
        test    %al, %al
        jz      2f
        outb    %al, %dx
        inc     %rbx
        jmp     1b
2:      ret

msg_hello:      .asciz "guest: hello from CPL3\n"
msg_ram:        .asciz "guest: filled 1 MiB of RAM\n"
msg_fb:         .asciz "guest: drew 8 framebuffer pages\n"
msg_bell:       .asciz "guest: rang the doorbell\n"
msg_rom:        .asciz "guest: read the ROM and its alias\n"
msg_romw:       .asciz "guest: a write to the ROM was ignored\n"
msg_flash:      .asciz "guest: flash ID mode and back\n"
msg_bad:        .asciz "guest: CHECK FAILED\n"
msg_bye:        .asciz "guest: done\n"
gm_guest_end:

        .section .note.GNU-stack, "", @progbits
