#include "imagesvc.h"

int main(int argc, char **argv)
{
        static const struct daemon_desc desc = {
            .name = "imagesvc",
            .binary = "banger-imagesvc",
            .summary = "banger's image service: OCI pull and flatten, golden images, kernels.",
        };
        struct daemon d;
        struct imagesvc v = {.d = &d};
        struct bg_error err = {0};

        int r = daemon_init(&d, &desc, argc, argv, &err);
        if (r == 0)
                r = daemon_open_db(&d, "images", imagesvc_migrations, imagesvc_n_migrations, &err);
        if (r == 0)
                r = imagesvc_register(&v, &err);
        if (r == 0)
                r = daemon_run(&d, &err);
        /* The server has stopped: no handler runs; end the operations before
         * the database closes. */
        imagesvc_done(&v);
        daemon_done(&d);
        return daemon_exit_code(&d, r, &err);
}
