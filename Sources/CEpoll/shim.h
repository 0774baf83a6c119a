#ifndef CLASSCTL_CEPOLL_SHIM_H
#define CLASSCTL_CEPOLL_SHIM_H
// Swift's Glibc module does not include <sys/epoll.h>; the server's pollers and classbench need it.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
