/*
 * cpuinfo_shim.c: an LD_PRELOAD library for aarch64 programs run under qemu-user by
 * `cargo xtask cross` (built there with aarch64-linux-gnu-gcc; never shipped).
 *
 * qemu-user shows the emulated program the host's /proc/cpuinfo, an x86-64 one. ONNX
 * Runtime's CPU detection (the cpuinfo library) parses it as an ARM one, finds no ARM
 * processors, and crashes while the library loads. This shim serves the file named by
 * $TITLESIM_FAKE_CPUINFO (an ARM /proc/cpuinfo matching the emulated CPU model, which
 * xtask writes) whenever /proc/cpuinfo is opened; every other path goes through unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *redirect(const char *path) {
    if (path && strcmp(path, "/proc/cpuinfo") == 0) {
        const char *f = getenv("TITLESIM_FAKE_CPUINFO");
        if (f && *f) return f;
    }
    return path;
}

int open(const char *path, int flags, ...) {
    static int (*real)(const char *, int, ...);
    if (!real) real = dlsym(RTLD_NEXT, "open");
    int mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
    return real(redirect(path), flags, mode);
}
int open64(const char *path, int flags, ...) {
    static int (*real)(const char *, int, ...);
    if (!real) real = dlsym(RTLD_NEXT, "open64");
    int mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
    return real(redirect(path), flags, mode);
}
int openat(int dir, const char *path, int flags, ...) {
    static int (*real)(int, const char *, int, ...);
    if (!real) real = dlsym(RTLD_NEXT, "openat");
    int mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
    return real(dir, redirect(path), flags, mode);
}
FILE *fopen(const char *path, const char *m) {
    static FILE *(*real)(const char *, const char *);
    if (!real) real = dlsym(RTLD_NEXT, "fopen");
    return real(redirect(path), m);
}
FILE *fopen64(const char *path, const char *m) {
    static FILE *(*real)(const char *, const char *);
    if (!real) real = dlsym(RTLD_NEXT, "fopen64");
    return real(redirect(path), m);
}
