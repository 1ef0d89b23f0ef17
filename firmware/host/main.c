/* espnow-gw-host: the gateway core (firmware/core) as a real gateway process on a
 * POSIX host. The link to Home Assistant is a pseudo-terminal (or stdin/stdout); the
 * "radio" takes frames from a UDP socket on 127.0.0.1 (or a file), so that tests and
 * benchmarks can play ESP-NOW senders at it. See firmware/README.md.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "gw.h"
#include "gw_text.h"
#include "hal_host.h"

#define VERSION "espnow-gw-host 1.1.0"
#define DATAGRAMS_PER_WAKEUP 64

typedef struct options {
    bool stdio;
    const char *link;
    int radio_port;
    const char *radio_file;
    const char *air;
    uint8_t mac[6];
    uint8_t channel;
    uint16_t max_payload;
    uint32_t stats_interval_ms;
    const char *firmware;
    bool trace;
    bool exit_when_idle;
    bool hal_1_0;
} options_t;

static gw_t gw; /* about 70 KB: static, as on the device */
static host_t host;
static volatile sig_atomic_t stop_signal, reboot_signal;
static int wake_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGHUP)
        reboot_signal = 1;
    else
        stop_signal = sig;
    if (wake_pipe[1] >= 0)
        (void)!write(wake_pipe[1], "", 1);
    errno = saved;
}

static void usage(FILE *to)
{
    fputs("usage: espnow-gw-host [options]\n"
          "  --link PATH          the link is a new pseudo-terminal; PATH becomes a symlink to it\n"
          "                       (default: a pseudo-terminal, its path printed at start)\n"
          "  --stdio              the link is stdin/stdout instead\n"
          "  --radio-udp PORT     radio frames from UDP 127.0.0.1:PORT (default 0: a free port)\n"
          "  --radio-file FILE    radio frames from FILE, fed as fast as the queue takes them\n"
          "  --air HOST:PORT      send transmitted frames (SEND) there as radio records\n"
          "  --mac MAC            the gateway's MAC (default 24:6F:28:00:00:0A)\n"
          "  --channel N          Wi-Fi channel at boot (default 1)\n"
          "  --max-payload N      250 (ESP-NOW v1) up to 1470 (v2, the default)\n"
          "  --stats-interval MS  STATS period, 0 for none (default 10000)\n"
          "  --firmware TEXT      firmware name in HELLO (default \"" VERSION "\")\n"
          "  --trace              print every frame in and out on stderr\n"
          "  --exit-when-idle     exit once stdin and the radio file are done and all is written\n"
          "  --hal-1.0            a HAL without protocol 1.1's hooks: HELLO without PEER_LIST and\n"
          "                       SET_PMK, which are answered NOT_SUPPORTED\n"
          "Signals: SIGHUP reboots the gateway (HELLO, sequence from 0); SIGTERM/SIGINT stop it.\n",
          to);
}

static bool parse_mac(const char *text, uint8_t mac[6])
{
    unsigned v[6];
    if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return false;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return true;
}

static long number(const char *text, long min, long max, const char *what)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "espnow-gw-host: %s must be %ld..%ld\n", what, min, max);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, options_t *o)
{
    *o = (options_t){
        .mac = {0x24, 0x6F, 0x28, 0x00, 0x00, 0x0A},
        .channel = 1,
        .max_payload = GW_MAX_PAYLOAD,
        .stats_interval_ms = 10000,
        .firmware = VERSION,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (!strcmp(a, "--stdio")) {
            o->stdio = true;
            takes = false;
        } else if (!strcmp(a, "--trace")) {
            o->trace = true;
            takes = false;
        } else if (!strcmp(a, "--exit-when-idle")) {
            o->exit_when_idle = true;
            takes = false;
        } else if (!strcmp(a, "--hal-1.0")) {
            o->hal_1_0 = true;
            takes = false;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!v) {
            usage(stderr);
            exit(2);
        } else if (!strcmp(a, "--link")) {
            o->link = v;
        } else if (!strcmp(a, "--radio-udp")) {
            o->radio_port = (int)number(v, 0, 65535, "--radio-udp");
        } else if (!strcmp(a, "--radio-file")) {
            o->radio_file = v;
        } else if (!strcmp(a, "--air")) {
            o->air = v;
        } else if (!strcmp(a, "--mac")) {
            if (!parse_mac(v, o->mac)) {
                fprintf(stderr, "espnow-gw-host: --mac wants AA:BB:CC:DD:EE:FF\n");
                exit(2);
            }
        } else if (!strcmp(a, "--channel")) {
            o->channel = (uint8_t)number(v, 1, 14, "--channel");
        } else if (!strcmp(a, "--max-payload")) {
            o->max_payload = (uint16_t)number(v, GW_V1_PAYLOAD, GW_MAX_PAYLOAD, "--max-payload");
        } else if (!strcmp(a, "--stats-interval")) {
            o->stats_interval_ms = (uint32_t)number(v, 0, 3600000, "--stats-interval");
        } else if (!strcmp(a, "--firmware")) {
            o->firmware = v;
        } else {
            usage(stderr);
            exit(2);
        }
        if (takes)
            i++;
    }
}

/* ---- the link ---------------------------------------------------------------------- */

static int slave_fd = -1; /* held open so that the master never sees a hang-up */
static char slave_name[256];

static int open_pty(void)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || !ptsname(master)) {
        perror("espnow-gw-host: pseudo-terminal");
        exit(1);
    }
    snprintf(slave_name, sizeof slave_name, "%s", ptsname(master));
    slave_fd = open(slave_name, O_RDWR | O_NOCTTY);
    struct termios tio;
    if (slave_fd < 0 || tcgetattr(slave_fd, &tio) != 0) {
        perror("espnow-gw-host: pseudo-terminal slave");
        exit(1);
    }
    cfmakeraw(&tio); /* no echo, no line editing, before the host opens it */
    tcsetattr(slave_fd, TCSANOW, &tio);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    return master;
}

static void make_link(const char *link)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", link);
    unlink(tmp);
    if (symlink(slave_name, tmp) != 0 || rename(tmp, link) != 0) {
        perror("espnow-gw-host: --link");
        exit(1);
    }
}

/* ---- the radio ---------------------------------------------------------------------- */

static int open_udp(int port, int *bound)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int size = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("espnow-gw-host: --radio-udp");
        exit(1);
    }
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *bound = ntohs(addr.sin_port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void open_air(const char *spec)
{
    char hostpart[64];
    int port;
    if (sscanf(spec, "%63[^:]:%d", hostpart, &port) != 2 ||
        inet_pton(AF_INET, hostpart, &host.air.sin_addr) != 1) {
        fprintf(stderr, "espnow-gw-host: --air wants HOST:PORT (an IPv4 address)\n");
        exit(2);
    }
    host.air.sin_family = AF_INET;
    host.air.sin_port = htons((uint16_t)port);
    host.air_fd = socket(AF_INET, SOCK_DGRAM, 0);
}

/* A datagram of records: each record that parses is heard; a bad one ends it. */
static void radio_datagram(const uint8_t *data, size_t len)
{
    while (len > 0) {
        radio_record_t record;
        size_t used = radio_record_parse(data, len, &record);
        if (used == 0) {
            host.bad_records++;
            return;
        }
        host_radio_record(&host, &record);
        data += used;
        len -= used;
    }
}

/* The radio file, read whole at start: its records go in whenever the queue has room. */
typedef struct radio_file {
    uint8_t *data;
    size_t len, pos;
} radio_file_t;

static void load_radio_file(radio_file_t *f, const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        perror("espnow-gw-host: --radio-file");
        exit(1);
    }
    size_t cap = 1 << 16;
    f->data = malloc(cap);
    for (size_t n; f->data && (n = fread(f->data + f->len, 1, cap - f->len, file)) > 0;) {
        f->len += n;
        if (f->len == cap)
            f->data = realloc(f->data, cap *= 2);
    }
    fclose(file);
    if (!f->data) {
        fprintf(stderr, "espnow-gw-host: out of memory\n");
        exit(1);
    }
}

static void feed_radio_file(radio_file_t *f)
{
    while (f->pos < f->len && gw_queue_fill(&gw.queue) < GW_QUEUE_CAPACITY) {
        radio_record_t record;
        size_t used = radio_record_parse(f->data + f->pos, f->len - f->pos, &record);
        if (used == 0) {
            host.bad_records++;
            f->pos = f->len;
            return;
        }
        host_radio_record(&host, &record);
        f->pos += used;
    }
}

/* ---- tracing ------------------------------------------------------------------------- */

static gw_rx_t trace_in, trace_out;

static void print_frame(void *ctx, uint8_t type, const uint8_t *body, uint16_t len)
{
    static char text[8192];
    gw_msg_t msg;
    gw_parse_result_t r = gw_msg_parse(type, body, len, &msg);
    if (r == GW_PARSED)
        gw_msg_format(&msg, text, sizeof text);
    else
        snprintf(text, sizeof text, "type=0x%02x len=%u (%s)", type, len,
                 r == GW_MALFORMED ? "malformed" : "unknown type");
    fprintf(stderr, "%s %s\n", (const char *)ctx, text);
}

static void trace_output(host_t *h, const uint8_t *data, size_t len)
{
    (void)h;
    gw_rx_feed(&trace_out, data, len, print_frame, ">");
}

/* ---- main loop ------------------------------------------------------------------------ */

static void print_stats(const char *when)
{
    gw_msg_t msg = {.type = GW_STATS};
    gw_get_stats(&gw, &msg.u.stats);
    char text[512];
    gw_msg_format(&msg, text, sizeof text);
    fprintf(stderr,
            "espnow-gw-host: %s %s link_bytes=%llu off_channel=%llu bad_records=%llu "
            "answers_lost=%u\n",
            when, text, (unsigned long long)host.link_bytes,
            (unsigned long long)host.off_channel, (unsigned long long)host.bad_records,
            gw.answers_lost);
    fprintf(stderr, "espnow-gw-host: %s radio peers=", when);
    for (unsigned i = 0; i < host.npeers; i++)
        fprintf(stderr, "%s%02x%02x%02x%02x%02x%02x/%u/%u", i ? "," : "", host.peers[i].mac[0],
                host.peers[i].mac[1], host.peers[i].mac[2], host.peers[i].mac[3],
                host.peers[i].mac[4], host.peers[i].mac[5], host.peers[i].channel,
                host.peers[i].encrypted ? 1u : 0u);
    fprintf(stderr, " pmk=");
    for (unsigned i = 0; i < GW_PMK_LEN; i++)
        fprintf(stderr, "%02x", host.pmk[i]);
    fprintf(stderr, " pmk_sets=%u\n", host.pmk_sets);
}

int main(int argc, char **argv)
{
    options_t o;
    parse_args(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    if (pipe(wake_pipe) != 0) {
        perror("espnow-gw-host: pipe");
        return 1;
    }
    fcntl(wake_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    int in_fd, out_fd;
    if (o.stdio) {
        in_fd = STDIN_FILENO;
        out_fd = STDOUT_FILENO;
        fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
        fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_NONBLOCK);
    } else {
        in_fd = out_fd = open_pty();
        if (o.link)
            make_link(o.link);
    }
    int radio_port = 0;
    int udp = open_udp(o.radio_port, &radio_port);
    radio_file_t file = {0};
    if (o.radio_file)
        load_radio_file(&file, o.radio_file);

    gw_config_t cfg = {
        .channel = o.channel,
        .max_payload = o.max_payload,
        .capabilities = GW_CAP_SEND | GW_CAP_PEERS | GW_CAP_SET_CHANNEL | GW_CAP_ENCRYPTION |
                        GW_CAP_STATS | (o.max_payload > GW_V1_PAYLOAD ? GW_CAP_ESPNOW_V2 : 0) |
                        GW_CAP_PEER_LIST | GW_CAP_SET_PMK, /* without their hooks: dropped */
        .max_peers = HOST_MAX_PEERS,
        .max_encrypted = HOST_MAX_ENCRYPTED,
        .firmware = o.firmware,
        .stats_interval_ms = o.stats_interval_ms,
    };
    memcpy(cfg.mac, o.mac, 6);
    host_init(&host, &gw, out_fd, o.channel, !o.hal_1_0);
    if (o.air)
        open_air(o.air);
    if (o.trace) {
        gw_rx_init(&trace_in);
        gw_rx_init(&trace_out);
        host.trace = trace_output;
    }
    gw_init(&gw, &host.hal, &cfg);
    gw_boot(&gw);
    fprintf(stderr, "espnow-gw-host: ready link=%s radio=udp:127.0.0.1:%d\n",
            o.stdio ? "stdio" : o.link ? o.link : slave_name, radio_port);

    bool in_eof = false;
    static uint8_t buf[65536];
    while (!stop_signal && !host.link_broken) {
        if (reboot_signal) {
            reboot_signal = 0;
            if (host.air_fd >= 0)
                close(host.air_fd);
            host_init(&host, &gw, out_fd, o.channel, !o.hal_1_0);
            if (o.air)
                open_air(o.air);
            if (o.trace)
                host.trace = trace_output;
            gw_boot(&gw);
        }
        host_complete_send(&host);
        if (o.radio_file)
            feed_radio_file(&file);
        uint32_t wait_ms = gw_service(&gw);
        bool file_ready = file.pos < file.len && gw_queue_fill(&gw.queue) < GW_QUEUE_CAPACITY;
        if (host.send_pending || file_ready)
            wait_ms = 0;
        if (o.exit_when_idle && in_eof && file.pos >= file.len && !gw_output_pending(&gw) &&
            !gw.sending && gw.send_count == 0)
            break;

        struct pollfd fds[4];
        nfds_t n = 0;
        fds[n++] = (struct pollfd){.fd = wake_pipe[0], .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = udp, .events = POLLIN};
        nfds_t in_at = n, out_at = n;
        if (in_fd == out_fd) {
            short ev = POLLIN | (gw_output_pending(&gw) ? POLLOUT : 0);
            fds[n++] = (struct pollfd){.fd = in_fd, .events = ev};
        } else {
            if (!in_eof)
                fds[in_at = n++] = (struct pollfd){.fd = in_fd, .events = POLLIN};
            else
                in_at = (nfds_t)-1;
            out_at = (nfds_t)-1;
            if (gw_output_pending(&gw))
                fds[out_at = n++] = (struct pollfd){.fd = out_fd, .events = POLLOUT};
        }
        if (poll(fds, n, (int)wait_ms) < 0) {
            if (errno == EINTR)
                continue;
            perror("espnow-gw-host: poll");
            break;
        }
        if (fds[0].revents)
            while (read(wake_pipe[0], buf, sizeof buf) > 0) {
            }
        if (fds[1].revents & POLLIN) {
            for (int i = 0; i < DATAGRAMS_PER_WAKEUP; i++) {
                ssize_t got = recv(udp, buf, sizeof buf, 0);
                if (got < 0)
                    break;
                radio_datagram(buf, (size_t)got);
            }
        }
        if (in_at != (nfds_t)-1 && (fds[in_at].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t got = read(in_fd, buf, sizeof buf);
            if (got > 0) {
                if (o.trace)
                    gw_rx_feed(&trace_in, buf, (size_t)got, print_frame, "<");
                gw_host_input(&gw, buf, (size_t)got);
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                in_eof = true;
            }
        }
        (void)out_at; /* writing happens in gw_service() when the fd is writable */
    }
    gw_service(&gw);
    print_stats("exit");
    if (o.link && !o.stdio)
        unlink(o.link);
    free(file.data);
    close(udp);
    if (host.air_fd >= 0)
        close(host.air_fd);
    if (slave_fd >= 0)
        close(slave_fd);
    if (in_fd != STDIN_FILENO)
        close(in_fd);
    return 0;
}
