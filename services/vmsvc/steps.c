#include "steps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int steps_run(const struct step *steps, size_t n, void *ctx, step_progress_fn progress,
              const atomic_bool *cancel, size_t *ret_failed, struct bg_error *err)
{
        size_t i;
        int r = 0;
        struct bg_error step_err = {0};

        for (i = 0; i < n; i++) {
                if (progress)
                        progress(ctx, steps[i].name);
                bg_error_clear(&step_err);
                if (cancel && atomic_load(cancel)) {
                        r = bg_error_set(&step_err, ECANCELED, "cancelled");
                        break;
                }
                r = steps[i].run(ctx, &step_err);
                if (r < 0)
                        break;
        }
        if (ret_failed)
                *ret_failed = i;
        if (i == n)
                return 0;

        char msg[BG_ERROR_MSG_MAX];
        int code = step_err.code ? step_err.code : -r;
        snprintf(msg, sizeof(msg), "%s: %s", steps[i].name,
                 step_err.msg[0] ? step_err.msg : strerror(code));
        /* Undo what finished, newest first; collect what could not be undone. */
        char undo_msgs[BG_ERROR_MSG_MAX] = "";
        for (size_t k = i; k-- > 0;) {
                if (!steps[k].undo)
                        continue;
                struct bg_error uerr = {0};
                int u = steps[k].undo(ctx, &uerr);
                if (u < 0) {
                        size_t len = strlen(undo_msgs);
                        snprintf(undo_msgs + len, sizeof(undo_msgs) - len, "%s%s: %s",
                                 len ? "; " : "", steps[k].name,
                                 uerr.msg[0] ? uerr.msg : strerror(-u));
                }
        }
        if (undo_msgs[0])
                return bg_error_set(err, code, "%s; rollback: %s", msg, undo_msgs);
        return bg_error_set(err, code, "%s", msg);
}
