/* Mapping libext2fs errors to -errno. libext2fs returns errcode_t values
 * (com_err tables, or a plain errno from its I/O layer); they never leave this
 * module. ext4i_fail is the one place where such a code becomes -errno plus a
 * message "<what we did>: <libext2fs' text>" in struct bg_error, and
 * errcode_to_errno picks the errno a caller can act on (ENOSPC for a full
 * image, EUCLEAN for a corrupt one, ENODATA for a missing xattr, ...). */
#include "ext4_internal.h"

#include <et/com_err.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static int errcode_to_errno(errcode_t e)
{
        if (e > 0 && e < 4096)
                return (int)e; /* a plain errno from the I/O layer */
        switch (e) {
        case EXT2_ET_NO_MEMORY:
                return ENOMEM;
        case EXT2_ET_BLOCK_ALLOC_FAIL:
        case EXT2_ET_INODE_ALLOC_FAIL:
        case EXT2_ET_DIR_NO_SPACE:
        case EXT2_ET_EA_NO_SPACE:
        case EXT2_ET_TOOSMALL:
        case EXT2_ET_RES_GDT_BLOCKS:
                return ENOSPC;
        case EXT2_ET_FILE_NOT_FOUND:
        case EXT2_ET_EA_KEY_NOT_FOUND:
                return e == EXT2_ET_EA_KEY_NOT_FOUND ? ENODATA : ENOENT;
        case EXT2_ET_FILE_EXISTS:
        case EXT2_ET_DIR_EXISTS:
                return EEXIST;
        case EXT2_ET_UNSUPP_FEATURE:
        case EXT2_ET_RO_UNSUPP_FEATURE:
        case EXT2_ET_EA_BAD_NAME_LEN:
        case EXT2_ET_EA_BAD_VALUE_SIZE:
                return e == EXT2_ET_EA_BAD_VALUE_SIZE ? E2BIG : EOPNOTSUPP;
        case EXT2_ET_INVALID_ARGUMENT:
        case EXT2_ET_BAD_EA_HEADER:
                return e == EXT2_ET_BAD_EA_HEADER ? EUCLEAN : EINVAL;
        case EXT2_ET_RO_FILSYS:
                return EROFS;
        case EXT2_ET_SHORT_READ:
        case EXT2_ET_SHORT_WRITE:
                return EIO;
        case EXT2_ET_BAD_MAGIC:
        case EXT2_ET_SB_CSUM_INVALID:
        case EXT2_ET_BAD_DESC_SIZE:
        case EXT2_ET_CORRUPT_SUPERBLOCK:
        case EXT2_ET_DIR_CORRUPTED:
        case EXT2_ET_DIR_CSUM_INVALID:
        case EXT2_ET_INODE_CSUM_INVALID:
        case EXT2_ET_EXTENT_CSUM_INVALID:
        case EXT2_ET_EXT_ATTR_CSUM_INVALID:
        case EXT2_ET_BLOCK_BITMAP_CSUM_INVALID:
        case EXT2_ET_INODE_BITMAP_CSUM_INVALID:
        case EXT2_ET_BAD_INODE_NUM:
        case EXT2_ET_BAD_BLOCK_NUM:
        case EXT2_ET_EXTENT_HEADER_BAD:
                return EUCLEAN;
        default:
                return EIO;
        }
}

/* Fill err with "<context>: <libext2fs message>" and return -errno. */
int ext4i_fail(struct bg_error *err, errcode_t e, const char *fmt, ...)
{
        int code = errcode_to_errno(e);
        char ctx[BG_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx, sizeof(ctx), fmt, ap);
        va_end(ap);
        return bg_error_set(err, code, "%s: %s", ctx, error_message(e));
}
