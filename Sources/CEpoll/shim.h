#ifndef CLASSCTL_CEPOLL_SHIM_H
#define CLASSCTL_CEPOLL_SHIM_H
// Swift's Glibc module does not include <sys/epoll.h>; classbench's event loop needs it.
#include <sys/epoll.h>
#endif
