/* A tiny Windows console program for the Wine supervision tests (WineProgramsTests), built with
 * x86_64-w64-mingw32-gcc. What it does is its first argument:
 *   serve        prints "serving pid N" on stdout and "warming up" on stderr, then sleeps; CTRL_BREAK
 *                makes it print "got CTRL_BREAK, stopping" and exit 0.
 *   ignore       as serve, but it ignores CTRL_BREAK (only the end of its job stops it).
 *   crash CODE   prints "crashing with CODE" on stdout and stderr and exits CODE.
 *   spam N       prints N numbered lines of 100 bytes, then sleeps (for the log rotation).
 *   parent       starts "serve" as a child of its own (in its job), prints the child's pid, sleeps.
 *   count        prints "count N pid P" lines, N = 0, 1, 2, ..., one every 20 ms, each in one write (WineHandoverTests). */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

static volatile LONG stopping = 0;

static BOOL WINAPI on_break(DWORD type)
{
    if (type == CTRL_BREAK_EVENT || type == CTRL_C_EVENT) {
        printf("got CTRL_BREAK, stopping\n");
        fflush(stdout);
        ExitProcess(0);
    }
    return FALSE;
}

static BOOL WINAPI ignore_break(DWORD type)
{
    (void)type;
    printf("ignoring a console event\n");
    fflush(stdout);
    return TRUE;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "serve";
    setvbuf(stdout, NULL, _IONBF, 0);
    setvbuf(stderr, NULL, _IONBF, 0);
    if (strcmp(mode, "crash") == 0) {
        int code = argc > 2 ? atoi(argv[2]) : 3;
        printf("crashing with %d\n", code);
        fprintf(stderr, "crashing with %d (stderr)\n", code);
        return code;
    }
    if (strcmp(mode, "spam") == 0) {
        int n = argc > 2 ? atoi(argv[2]) : 1000;
        char line[128];
        for (int i = 0; i < n; i++) {
            int len = snprintf(line, sizeof line, "line %06d ", i);
            while (len < 99) line[len++] = 'x';
            line[len++] = '\n';
            fwrite(line, 1, len, stdout);
        }
        printf("spam done\n");
        for (;;) Sleep(1000);
    }
    if (strcmp(mode, "count") == 0) {
        char line[64];
        for (long i = 0;; i++) {
            int len = snprintf(line, sizeof line, "count %06ld pid %lu\n", i, GetCurrentProcessId());
            fwrite(line, 1, len, stdout);
            Sleep(20);
        }
    }
    if (strcmp(mode, "parent") == 0) {
        char self[MAX_PATH], cmd[MAX_PATH + 16];
        STARTUPINFOA si = { sizeof si };
        PROCESS_INFORMATION pi;
        GetModuleFileNameA(NULL, self, MAX_PATH);
        snprintf(cmd, sizeof cmd, "\"%s\" serve", self);
        if (!CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
            printf("cannot start the child: error %lu\n", GetLastError());
            return 1;
        }
        printf("child pid %lu\n", pi.dwProcessId);
        for (;;) Sleep(1000);
    }
    if (strcmp(mode, "whoami") == 0) {
        /* The account it runs as (user = in programs.conf), then it serves. */
        char name[256];
        DWORD size = sizeof name;
        printf("running as %s\n", GetUserNameA(name, &size) ? name : "(unknown)");
    }
    SetConsoleCtrlHandler(strcmp(mode, "ignore") == 0 ? ignore_break : on_break, TRUE);
    printf("serving pid %lu\n", GetCurrentProcessId());
    fprintf(stderr, "warming up\n");
    for (;;) Sleep(200);
}
