"""Give this process a distinctive name (its comm, what `ps` and reqlens's
service_name show) instead of "python3". Not instrumentation: the kernel keeps a
15-byte name per thread, and threads started afterwards inherit it."""
import ctypes

PR_SET_NAME = 15


def set_procname(name: str) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except OSError:
        pass
