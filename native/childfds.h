/* Placing a forked child's descriptors before exec (childfds.c). */
#ifndef PLACEMENT_CHILDFDS_H
#define PLACEMENT_CHILDFDS_H

/* Makes descriptor i refer to what src[i] refers to, for i in 0..n-1 (n at most 8), whatever numbers the sources have:
 * a source may itself be one of 0..n-1 (a pipe gets fd 0 when the parent ran with stdin closed), or be another
 * source's target. Every placed descriptor is inheritable (FD_CLOEXEC clear), even when src[i] == i. Descriptors
 * above n-1 are left as they are; the caller closes them. Async-signal-safe (fcntl, dup2, close): for the child of a
 * fork of a multithreaded process. 0, or -1 with errno set (EBADF: a source is closed; then no descriptor changed). */
int placement_place_fds(const int *src, int n);

#endif
