/* serial.h -- the token zone's serial base, kept in --data-dir.
 *
 * The token zone's serial is a base plus the registry's durable index.
 * The index never goes back; the base is the zone file's serial (or 1 for
 * a zone made from flags), raised by one whenever the zone's own records
 * change (the file, or the SOA, NS and glue that --ns-name, --ns-address
 * and friends make), so that secondaries see a new serial and fetch the
 * new records. The base and a hash of the records it belongs to are kept
 * in DIR/dns-serial, replaced atomically before the serial is served.
 */
#ifndef SRVGATE_DNS_SERIAL_H
#define SRVGATE_DNS_SERIAL_H

#include <stdint.h>

#define SERIAL_FILE "dns-serial"

/* The base to serve for zone records hashing to `content`, whose own
 * serial is `natural`: never below the last base kept in dir, one above
 * it when the content changed. dir NULL or "": natural, nothing kept.
 * Returns 0, or -1 with err (a file we cannot read or write). */
int serial_base_settle(const char *dir, uint64_t content, uint32_t natural,
		       uint32_t *base, char *err);

#endif
