/*
 * hello: the tiny HTTP server that the demo and the end-to-end tests deploy as an app.
 * It listens on 127.0.0.1:$PORT and answers:
 *   GET /health  200 "ok", or 503 when HEALTH=fail (a release whose health check never passes)
 *   GET /        200 "hello from $BELAY_APP $BELAY_VERSION: $MESSAGE"
 * CRASH=start makes it exit with code 3 at once (a release that crashes at start).
 * Single-threaded, one request per connection; SIGTERM ends it (the default action).
 * `hello get PORT PATH` is a client instead: it prints the body 127.0.0.1:PORT answers to
 * GET PATH (the demo needs no curl), and exits 1 when nothing answers or the status is not 200.
 * Built by the build with the C compiler NativeAOT already needs (cc -O2 -o hello hello.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *env(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' ? value : fallback;
}

static void answer(int fd, int code, const char *reason, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     code, reason, strlen(body));
    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
    {
        perror("hello: write");
    }
}

static int get(const char *port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)atoi(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
    {
        printf("nothing answers on 127.0.0.1:%s\n", port);
        return 1;
    }
    char request[512];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\n\r\n", path);
    if (write(fd, request, (size_t)n) < 0)
    {
        return 1;
    }
    char response[4096] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof response - 1 && (r = read(fd, response + got, sizeof response - 1 - got)) > 0)
    {
        got += (size_t)r;
    }
    close(fd);
    char *body = strstr(response, "\r\n\r\n");
    fputs(body != NULL ? body + 4 : response, stdout);
    return strncmp(response, "HTTP/1.0 200", 12) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "get") == 0)
    {
        return get(argv[2], argv[3]);
    }
    const char *app = env("BELAY_APP", "hello");
    const char *version = env("BELAY_VERSION", "?");
    if (strcmp(env("CRASH", ""), "start") == 0)
    {
        fprintf(stderr, "hello %s: CRASH=start, exiting with code 3\n", version);
        return 3;
    }
    int port = atoi(env("PORT", "0"));
    if (port <= 0 || port > 65535)
    {
        fprintf(stderr, "hello %s: PORT is not set to a port number\n", version);
        return 2;
    }
    int server = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(server, (struct sockaddr *)&address, sizeof address) != 0 || listen(server, 16) != 0)
    {
        perror("hello: bind");
        return 1;
    }
    printf("hello %s %s listening on 127.0.0.1:%d\n", app, version, port);
    for (;;)
    {
        int client = accept(server, NULL, NULL);
        if (client < 0)
        {
            continue;
        }
        char request[1024] = {0};
        ssize_t got = read(client, request, sizeof request - 1);
        if (got > 0 && strncmp(request, "GET /health", 11) == 0)
        {
            if (strcmp(env("HEALTH", ""), "fail") == 0)
            {
                answer(client, 503, "Service Unavailable", "unhealthy\n");
            }
            else
            {
                answer(client, 200, "OK", "ok\n");
            }
        }
        else if (got > 0 && strncmp(request, "GET / ", 6) == 0)
        {
            char body[512];
            snprintf(body, sizeof body, "hello from %s %s: %s\n", app, version, env("MESSAGE", "-"));
            answer(client, 200, "OK", body);
        }
        else
        {
            answer(client, 404, "Not Found", "not found\n");
        }
        close(client);
    }
}
