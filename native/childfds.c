/* Placing a forked child's descriptors before exec: see childfds.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "childfds.h"

int placement_place_fds(const int *src, int n)
{
	int tmp[8];
	if (n < 0 || n > 8) {
		errno = EINVAL;
		return -1;
	}
	/* Every source is checked before any is copied: a copy takes the lowest free number, which may be a later source
	 * that is closed, and would make it look open. */
	for (int i = 0; i < n; i++)
		if (fcntl(src[i], F_GETFD) < 0)
			return -1;
	/* First every source to a number above the targets, so that placing one never closes another's source (dup2 onto
	 * a target that is a later source), then onto its target: tmp[i] != i, so dup2 always makes a new, inheritable
	 * descriptor (dup2(fd, fd) would keep a close-on-exec flag). */
	for (int i = 0; i < n; i++) {
		tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, n);
		if (tmp[i] < 0) {
			int saved = errno;
			while (i-- > 0)
				close(tmp[i]);
			errno = saved;
			return -1;
		}
	}
	int rc = 0, saved = 0;
	for (int i = 0; i < n; i++)
		if (rc == 0 && dup2(tmp[i], i) < 0)
			rc = -1, saved = errno;
	for (int i = 0; i < n; i++)
		close(tmp[i]);
	errno = saved;
	return rc;
}
