/* backup.c -- `srvgate backup FILE`: an online, consistent, compacted copy
 * of the LMDB store, taken while srvgate serves.
 *
 * LMDB readers in another process see one committed snapshot and never
 * block the writer, so the copy needs no pause: it opens the data dir
 * read-only (the server's LOCK is not taken), streams the snapshot with
 * free pages left out (MDB_CP_COMPACT) into FILE.tmp, adds the changes the
 * write-ahead log holds beyond it (store_lmdb_backup, lmdb_backup.c),
 * syncs it and renames it to FILE. Restoring is putting the file back as
 * <data-dir>/data.mdb, with no data.wal beside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "store.h"
#include "util.h"

#define EXIT_USAGE 2

static const char USAGE[] =
	"usage: srvgate backup FILE [--data-dir DIR]\n"
	"Writes a consistent, compacted copy of srvgate's LMDB store to FILE,\n"
	"online: the running server is not paused. Restore: stop srvgate, put\n"
	"FILE in place as <data-dir>/data.mdb (remove lock.mdb and data.wal),\n"
	"start it.\n";

int
tool_backup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = getenv("SRVGATE_DATA_DIR");
	struct stat sb;
	errbuf_t err;
	int c;

	if (dir == NULL || dir[0] == '\0')
		dir = "./data";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(USAGE, stdout);
			return 0;
		}
		if (c != 'd') {
			fprintf(stderr, "srvgate backup: bad flag '%s'\n%s",
				argv[optind - 1], USAGE);
			return EXIT_USAGE;
		}
		dir = optarg;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "srvgate backup: give one FILE\n%s", USAGE);
		return EXIT_USAGE;
	}
	if (store_lmdb_backup(dir, argv[optind], err) != 0) {
		fprintf(stderr, "srvgate backup: %s\n", err);
		return 1;
	}
	if (stat(argv[optind], &sb) == 0)
		printf("backup of %s written to %s (%lld bytes)\n", dir,
		       argv[optind], (long long)sb.st_size);
	return 0;
}
