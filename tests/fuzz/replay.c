/* replay.c -- main() for a harness built without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on each file named, or on each file of a
 * directory named (sorted), in one process, and prints how many ran. Built
 * with ASan and UBSan, a crash, a sanitizer report or a leak (at exit)
 * makes it fail; it names the input it died on. `make fuzz-replay`. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void __sanitizer_set_death_callback(void (*callback)(void));

static char current[4096];
static size_t ran;

static void
say_current(void)
{
	static const char head[] = "replay: died on input ";

	if (write(2, head, sizeof(head) - 1) < 0 ||
	    write(2, current, strlen(current)) < 0 || write(2, "\n", 1) < 0)
		return;
}

static void
on_signal(int sig)
{
	say_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0) {
		perror(path);
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	/* Exactly the input's size, so a read past its end is caught. */
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		perror(path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	snprintf(current, sizeof(current), "%s", path);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	ran++;
	return 0;
}

static int
run_path(const char *path)
{
	struct dirent **list;
	struct stat st;
	int n, i, rc = 0;

	if (stat(path, &st) != 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	n = scandir(path, &list, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (i = 0; i < n; i++) {
		char sub[4096];

		if (list[i]->d_name[0] != '.') {
			snprintf(sub, sizeof(sub), "%s/%s", path,
				 list[i]->d_name);
			if (run_path(sub) != 0)
				rc = -1;
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

int
main(int argc, char **argv)
{
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	__sanitizer_set_death_callback(say_current);
	/* ASan reports faults itself (then the callback names the input);
	 * an abort() of a harness's own check is ours to name. */
	signal(SIGABRT, on_signal);
	for (i = 1; i < argc; i++)
		if (run_path(argv[i]) != 0)
			rc = 1;
	printf("%s: %zu inputs replayed\n", argv[0], ran);
	return rc;
}
