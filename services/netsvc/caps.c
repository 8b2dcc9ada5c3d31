#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

int netsvc_cap_effective(int cap, struct bg_error *err)
{
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {0};
        if (syscall(SYS_capget, &hdr, data) < 0)
                return bg_error_errno(err, -errno, "read own capabilities");
        return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}
