/* check.c -- the DNS flags that name keys, rules or files, read once
 * before anything is opened, so that a bad value exits 2 with the flag's
 * name instead of failing after the data dir is taken. */
#include <stdint.h>

#include "config.h"
#include "cookie.h"
#include "dns.h"

int
dns_check_config(const struct config *cfg, char *err)
{
	uint8_t secret[COOKIE_SECRET_LEN];

	if (xfr_check_config(cfg, err) != 0)
		return -1;
	/* cookie.c names the flag; the file is read again at start. */
	if (cfg->cookie_secret_file[0] != '\0' &&
	    cookie_secret_read(cfg->cookie_secret_file, secret, err) != 0)
		return -1;
	return 0;
}
