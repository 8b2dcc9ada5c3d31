/* Shared between the files of `banger doctor`'s checks (doctor.c,
 * doctor_vmm.c, doctor_host.c, doctor_net.c, doctor_install.c), not part of
 * doctor.h's API. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "doctor.h"

/* Debian, Ubuntu and their derivatives (by /etc/os-release ID). */
bool doctor_is_debian_like(const char *os);

/* "install PKG" in the words of the host's package manager: deb_pkg for
 * apt, rpm_pkg for dnf, pacman and zypper. */
void doctor_pkg_hint(const char *os, const char *deb_pkg, const char *rpm_pkg, char *out,
                     size_t len);

/* The configured VMM (auto without a configuration). */
enum bg_vmm doctor_cfg_vmm(const struct doctor_input *in);

/* The first non-blank line of s into out. */
void doctor_first_line(const char *s, char *out, size_t len);
