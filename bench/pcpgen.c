/*
 * pcpgen: write the "host-week" benchmark corpus with libpcp's own archive
 * writer (libpcp_import: pmiStart, pmiAddMetric, pmiPutValueHandle,
 * pmiWrite), one archive per UTC day, as pmlogger leaves them under
 * /var/log/pcp/pmlogger/<host>/YYYYMMDD.
 *
 *   cc -O2 -o pcpgen bench/pcpgen.c -lpcp_import -lpcp
 *   pcpgen -o DIR -s SEED -t START -d DAYS -i INTERVAL -x DIVISOR -H HOST [-V 2|3]
 *
 * START is a UTC midnight in seconds since the epoch. DIVISOR (>= 1) divides
 * every metric group's instance count (at least 1 instance is kept) for a
 * smaller quick corpus. Every value is a function of SEED alone (one
 * splitmix64 stream consumed in a fixed order), so a corpus is reproducible
 * from its parameters; the archive bytes also hold the writer's PID and
 * host name in their label records, as every pmlogger archive does.
 *
 * About 2,000 series in 11 groups shaped like the Linux PMDA's metrics:
 * counters grow at a diurnal rate with per-series scale and autocorrelated
 * noise (some, like error counters, rarely move); gauges follow the day with
 * noise, drift slowly, or stay constant (mtu, totals); types are the PMDA's
 * mix of U64, U32, 32, FLOAT and DOUBLE. Samples are 10 s apart with a few
 * milliseconds of jitter, as pmlogger's timer gives. On stdout, one JSON
 * line: series, records, values and seconds taken.
 */
#include <pcp/pmapi.h>
#include <pcp/import.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* -- random numbers -------------------------------------------------- */

static uint64_t rng_state;

static uint64_t
next64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double
uniform(void)		/* [0, 1) */
{
    return (next64() >> 11) * (1.0 / 9007199254740992.0);
}

static double
gauss(void)
{
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300)
	u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static double
loguniform(double lo, double hi)
{
    return exp(log(lo) + (log(hi) - log(lo)) * uniform());
}

/* -- metric table ------------------------------------------------------ */

enum shape {
    CTR,	/* counter: rate * activity * noise per second */
    CTR_RARE,	/* counter that mostly stands still (errors, drops) */
    G_DAY,	/* gauge following the diurnal activity */
    G_WALK,	/* gauge drifting slowly (filesystem use, memory) */
    G_CONST,	/* constant (mtu, totals, sizes) */
};

struct leaf {
    const char	*name;
    int		type;
    int		sem;
    enum shape	shape;
    double	lo, hi;		/* rate per second, or gauge level range */
};

#define U64 PM_TYPE_U64
#define U32 PM_TYPE_U32
#define I32 PM_TYPE_32
#define FLT PM_TYPE_FLOAT
#define DBL PM_TYPE_DOUBLE
#define C PM_SEM_COUNTER
#define I PM_SEM_INSTANT
#define D PM_SEM_DISCRETE

struct group {
    const char	*prefix;
    int		domain, cluster;
    int		ninst;		/* 0: singular (PM_INDOM_NULL) */
    const char	*(*iname)(int, char *);
    const struct leaf *leaves;
};

static const char *
name_load(int i, char *b) { static const char *n[] = {"1 minute", "5 minute", "15 minute"}; return strcpy(b, n[i % 3]); }
static const char *
name_cpu(int i, char *b) { sprintf(b, "cpu%d", i); return b; }
static const char *
name_disk(int i, char *b) { sprintf(b, "nvme%dn1", i); return b; }
static const char *
name_part(int i, char *b) { sprintf(b, "nvme%dn1p%d", i / 3, i % 3 + 1); return b; }
static const char *
name_net(int i, char *b)
{
    static const char *n[] = {"lo", "eno1", "eno2", "docker0", "virbr0", "bond0", "wlp2s0", "tun0"};
    if (i < 8)
	return strcpy(b, n[i]);
    sprintf(b, "veth%04x", i);
    return b;
}
static const char *
name_fs(int i, char *b)
{
    static const char *n[] = {"/dev/nvme0n1p2", "/dev/nvme0n1p1", "/dev/nvme1n1p1", "/dev/mapper/vg0-home",
	"/dev/mapper/vg0-var", "/dev/mapper/vg0-srv", "/dev/mapper/vg1-data", "/dev/mapper/vg1-backup",
	"/dev/nvme2n1p1", "/dev/nvme3n1p1", "/dev/mapper/vg0-tmp", "/dev/mapper/vg1-scratch"};
    if (i < 12)
	return strcpy(b, n[i]);
    sprintf(b, "/dev/loop%d", i);
    return b;
}
static const char *
name_proc(int i, char *b)
{
    static const char *cmd[] = {"/usr/lib/systemd/systemd", "/usr/sbin/sshd", "/usr/bin/postgres",
	"/usr/sbin/nginx", "/usr/bin/java", "/usr/bin/python3", "/usr/libexec/pcp/bin/pmcd",
	"/usr/libexec/pcp/bin/pmlogger", "/usr/bin/dockerd", "/usr/bin/containerd", "/usr/sbin/rsyslogd",
	"/usr/bin/redis-server", "/usr/sbin/cron", "/usr/bin/node", "/usr/sbin/chronyd", "/usr/bin/valkey-server"};
    sprintf(b, "%06d %s", 1 + i * 977 % 99991, cmd[i % 16]);
    return b;
}
static const char *
name_cgroup(int i, char *b)
{
    static const char *n[] = {"/system.slice/sshd.service", "/system.slice/postgresql.service",
	"/system.slice/nginx.service", "/system.slice/docker.service", "/system.slice/pmcd.service",
	"/system.slice/pmlogger.service", "/system.slice/cron.service", "/system.slice/rsyslog.service",
	"/system.slice/redis.service", "/system.slice/containerd.service", "/system.slice/chrony.service",
	"/system.slice/systemd-journald.service", "/user.slice", "/init.scope"};
    if (i < 14)
	return strcpy(b, n[i]);
    sprintf(b, "/system.slice/docker-%012x.scope", (unsigned)(i * 2654435761u));
    return b;
}
static const char *
name_node(int i, char *b) { sprintf(b, "node%d", i); return b; }

static const struct leaf kernel_all[] = {
    {"cpu.user", U64, C, CTR, 2000, 6000}, {"cpu.sys", U64, C, CTR, 600, 2000},
    {"cpu.nice", U64, C, CTR, 5, 50}, {"cpu.idle", U64, C, CTR, 20000, 28000},
    {"cpu.intr", U64, C, CTR, 50, 200}, {"cpu.wait.total", U64, C, CTR, 50, 900},
    {"cpu.steal", U64, C, CTR_RARE, 1, 5}, {"cpu.guest", U64, C, CTR_RARE, 1, 5},
    {"cpu.irq.soft", U64, C, CTR, 50, 300}, {"cpu.irq.hard", U64, C, CTR, 20, 100},
    {"pswitch", U64, C, CTR, 20000, 90000}, {"intr", U64, C, CTR, 15000, 60000},
    {"sysfork", U64, C, CTR, 5, 60}, {"nprocs", U32, I, G_DAY, 400, 900},
    {"running", U32, I, G_DAY, 1, 24}, {"blocked", U32, I, G_DAY, 0, 4},
    {"uptime", U32, I, G_WALK, 1e6, 2e6}, {"nusers", U32, I, G_DAY, 1, 6},
    {NULL}
};
static const struct leaf kernel_all_load[] = {{"load", FLT, I, G_DAY, 0.3, 6}, {NULL}};
static const struct leaf percpu[] = {
    {"user", U64, C, CTR, 100, 600}, {"sys", U64, C, CTR, 30, 150}, {"nice", U64, C, CTR_RARE, 1, 5},
    {"idle", U64, C, CTR, 400, 900}, {"intr", U64, C, CTR, 2, 10}, {"wait", U64, C, CTR, 2, 40},
    {"steal", U64, C, CTR_RARE, 1, 3}, {"irq.soft", U64, C, CTR, 2, 20}, {"irq.hard", U64, C, CTR, 1, 8},
    {NULL}
};
static const struct leaf mem_util[] = {
    {"used", U64, I, G_DAY, 30e6, 50e6}, {"free", U64, I, G_DAY, 4e6, 12e6},
    {"shared", U64, I, G_WALK, 1e5, 9e5}, {"bufmem", U64, I, G_WALK, 2e5, 8e5},
    {"cached", U64, I, G_DAY, 10e6, 20e6}, {"active", U64, I, G_DAY, 12e6, 25e6},
    {"inactive", U64, I, G_DAY, 6e6, 14e6}, {"swapCached", U64, I, G_WALK, 1e3, 5e4},
    {"highTotal", U64, I, G_CONST, 0, 0}, {"highFree", U64, I, G_CONST, 0, 0},
    {"lowTotal", U64, I, G_CONST, 64e6, 64e6}, {"lowFree", U64, I, G_DAY, 4e6, 12e6},
    {"swapTotal", U64, I, G_CONST, 8e6, 8e6}, {"swapFree", U64, I, G_WALK, 7e6, 8e6},
    {"dirty", U64, I, G_DAY, 100, 90000}, {"writeback", U64, I, G_DAY, 0, 2000},
    {"mapped", U64, I, G_WALK, 5e5, 2e6}, {"slab", U64, I, G_WALK, 8e5, 2e6},
    {"committed_AS", U64, I, G_DAY, 20e6, 45e6}, {"pageTables", U64, I, G_WALK, 5e4, 2e5},
    {"reverseMaps", U64, I, G_WALK, 1e5, 5e5}, {"cache_clean", U64, I, G_DAY, 9e6, 19e6},
    {"anonpages", U64, I, G_DAY, 10e6, 25e6}, {"commitLimit", U64, I, G_CONST, 40e6, 40e6},
    {"bounce", U64, I, G_CONST, 0, 0}, {"NFS_Unstable", U64, I, G_CONST, 0, 0},
    {"slabReclaimable", U64, I, G_WALK, 4e5, 1.2e6}, {"slabUnreclaimable", U64, I, G_WALK, 2e5, 6e5},
    {"active_anon", U64, I, G_DAY, 8e6, 20e6}, {"inactive_anon", U64, I, G_DAY, 1e6, 5e6},
    {"active_file", U64, I, G_DAY, 4e6, 8e6}, {"inactive_file", U64, I, G_DAY, 4e6, 9e6},
    {"unevictable", U64, I, G_CONST, 1e4, 1e4}, {"mlocked", U64, I, G_CONST, 1e4, 1e4},
    {"shmem", U64, I, G_WALK, 1e5, 9e5}, {"kernelStack", U64, I, G_WALK, 1e4, 3e4},
    {"hugepagesTotal", U64, I, G_CONST, 0, 0}, {"hugepagesFree", U64, I, G_CONST, 0, 0},
    {"available", U64, I, G_DAY, 12e6, 30e6},
    {NULL}
};
static const struct leaf mem_vmstat[] = {
    {"pgpgin", U64, C, CTR, 100, 4000}, {"pgpgout", U64, C, CTR, 200, 6000},
    {"pswpin", U64, C, CTR_RARE, 1, 10}, {"pswpout", U64, C, CTR_RARE, 1, 10},
    {"pgfault", U64, C, CTR, 5000, 80000}, {"pgmajfault", U64, C, CTR, 1, 40},
    {"pgfree", U64, C, CTR, 5000, 90000}, {"pgactivate", U64, C, CTR, 100, 3000},
    {"pgdeactivate", U64, C, CTR, 10, 1000}, {"pgalloc_normal", U64, C, CTR, 4000, 70000},
    {"pgalloc_dma32", U64, C, CTR, 100, 3000}, {"pgsteal_kswapd", U64, C, CTR, 10, 900},
    {"pgsteal_direct", U64, C, CTR_RARE, 1, 50}, {"pgscan_kswapd", U64, C, CTR, 10, 1200},
    {"pgscan_direct", U64, C, CTR_RARE, 1, 60}, {"pgrefill", U64, C, CTR, 10, 900},
    {"allocstall", U64, C, CTR_RARE, 1, 3}, {"compact_stall", U64, C, CTR_RARE, 1, 3},
    {"thp_fault_alloc", U64, C, CTR, 1, 30}, {"thp_collapse_alloc", U64, C, CTR_RARE, 1, 3},
    {"numa_hit", U64, C, CTR, 4000, 70000}, {"numa_miss", U64, C, CTR_RARE, 1, 100},
    {"numa_foreign", U64, C, CTR_RARE, 1, 100}, {"numa_local", U64, C, CTR, 4000, 70000},
    {"numa_other", U64, C, CTR_RARE, 1, 100}, {"nr_dirty", U64, I, G_DAY, 10, 20000},
    {"nr_writeback", U64, I, G_DAY, 0, 400}, {"nr_free_pages", U64, I, G_DAY, 1e6, 3e6},
    {"nr_inactive_anon", U64, I, G_DAY, 3e5, 1.2e6}, {"nr_active_anon", U64, I, G_DAY, 2e6, 5e6},
    {NULL}
};
static const struct leaf disk[] = {
    {"read", U64, C, CTR, 5, 400}, {"write", U64, C, CTR, 20, 900}, {"total", U64, C, CTR, 30, 1300},
    {"blkread", U64, C, CTR, 100, 20000}, {"blkwrite", U64, C, CTR, 200, 40000},
    {"blktotal", U64, C, CTR, 300, 60000}, {"read_bytes", U64, C, CTR, 50, 10000},
    {"write_bytes", U64, C, CTR, 100, 20000}, {"total_bytes", U64, C, CTR, 150, 30000},
    {"read_merge", U64, C, CTR, 1, 50}, {"write_merge", U64, C, CTR, 5, 200},
    {"avactive", U32, C, CTR, 10, 400}, {"aveq", U32, C, CTR, 10, 900},
    {"read_rawactive", U32, C, CTR, 10, 500}, {"write_rawactive", U32, C, CTR, 10, 800},
    {"discard", U64, C, CTR_RARE, 1, 5}, {"flush", U64, C, CTR, 1, 20},
    {NULL}
};
static const struct leaf partitions[] = {
    {"read", U64, C, CTR, 1, 200}, {"write", U64, C, CTR, 5, 400}, {"total", U64, C, CTR, 6, 600},
    {"blkread", U64, C, CTR, 20, 9000}, {"blkwrite", U64, C, CTR, 50, 18000},
    {"blktotal", U64, C, CTR, 70, 27000}, {"read_bytes", U64, C, CTR, 10, 4500},
    {"write_bytes", U64, C, CTR, 25, 9000}, {"total_bytes", U64, C, CTR, 35, 13500},
    {NULL}
};
static const struct leaf netif[] = {
    {"in.bytes", U64, C, CTR, 1e3, 5e7}, {"in.packets", U64, C, CTR, 10, 4e4},
    {"in.errors", U64, C, CTR_RARE, 1, 2}, {"in.drops", U64, C, CTR_RARE, 1, 5},
    {"in.fifo", U64, C, CTR_RARE, 1, 2}, {"in.frame", U64, C, CTR_RARE, 1, 2},
    {"in.compressed", U64, C, CTR_RARE, 1, 2}, {"in.mcasts", U64, C, CTR, 0.1, 20},
    {"out.bytes", U64, C, CTR, 1e3, 3e7}, {"out.packets", U64, C, CTR, 10, 3e4},
    {"out.errors", U64, C, CTR_RARE, 1, 2}, {"out.drops", U64, C, CTR_RARE, 1, 5},
    {"out.fifo", U64, C, CTR_RARE, 1, 2}, {"collisions", U64, C, CTR_RARE, 1, 2},
    {"out.carrier", U64, C, CTR_RARE, 1, 2}, {"out.compressed", U64, C, CTR_RARE, 1, 2},
    {"total.bytes", U64, C, CTR, 2e3, 8e7}, {"total.packets", U64, C, CTR, 20, 7e4},
    {"mtu", U32, D, G_CONST, 1500, 9000}, {"speed", FLT, D, G_CONST, 1000, 25000},
    {"baudrate", U64, D, G_CONST, 125e6, 125e6}, {"duplex", U32, D, G_CONST, 2, 2},
    {"up", U32, I, G_CONST, 1, 1}, {"running", U32, I, G_CONST, 1, 1},
    {NULL}
};
static const struct leaf nettcp[] = {
    {"tcp.activeopens", U64, C, CTR, 1, 60}, {"tcp.passiveopens", U64, C, CTR, 1, 200},
    {"tcp.attemptfails", U64, C, CTR_RARE, 1, 5}, {"tcp.estabresets", U64, C, CTR, 0.1, 5},
    {"tcp.currestab", U32, I, G_DAY, 20, 900}, {"tcp.insegs", U64, C, CTR, 100, 40000},
    {"tcp.outsegs", U64, C, CTR, 100, 40000}, {"tcp.retranssegs", U64, C, CTR, 0.1, 40},
    {"tcp.inerrs", U64, C, CTR_RARE, 1, 2}, {"tcp.outrsts", U64, C, CTR, 0.1, 20},
    {"tcp.incsumerrors", U64, C, CTR_RARE, 1, 2}, {"tcp.syncookiessent", U64, C, CTR_RARE, 1, 2},
    {"tcp.listenoverflows", U64, C, CTR_RARE, 1, 2}, {"tcp.listendrops", U64, C, CTR_RARE, 1, 2},
    {"tcp.timeouts", U64, C, CTR, 0.1, 10}, {"tcp.delayedacks", U64, C, CTR, 10, 2000},
    {"tcp.fastretrans", U64, C, CTR, 0.1, 20}, {"tcp.slowstartretrans", U64, C, CTR_RARE, 1, 3},
    {"tcp.ofoqueue", U64, C, CTR, 0.1, 30}, {"tcp.rcvpruned", U64, C, CTR_RARE, 1, 2},
    {"tcp.backlogdrop", U64, C, CTR_RARE, 1, 2}, {"tcp.abortontimeout", U64, C, CTR_RARE, 1, 3},
    {"tcp.abortonclose", U64, C, CTR_RARE, 1, 3}, {"tcp.abortondata", U64, C, CTR, 0.1, 5},
    {"tcp.memorypressures", U64, C, CTR_RARE, 1, 2},
    {"udp.indatagrams", U64, C, CTR, 10, 3000}, {"udp.outdatagrams", U64, C, CTR, 10, 3000},
    {"udp.noports", U64, C, CTR, 0.1, 10}, {"udp.inerrors", U64, C, CTR_RARE, 1, 3},
    {"udp.recvbuferrors", U64, C, CTR_RARE, 1, 3}, {"udp.sndbuferrors", U64, C, CTR_RARE, 1, 2},
    {"udp.incsumerrors", U64, C, CTR_RARE, 1, 2}, {"udp.ignoredmulti", U64, C, CTR, 0.1, 5},
    {"ip.inreceives", U64, C, CTR, 100, 50000}, {"ip.indelivers", U64, C, CTR, 100, 50000},
    {"ip.outrequests", U64, C, CTR, 100, 45000}, {"ip.forwarding", U64, I, G_CONST, 1, 1},
    {"ip.defaultttl", U64, I, G_CONST, 64, 64}, {"ip.forwdatagrams", U64, C, CTR, 0.1, 900},
    {"ip.inhdrerrors", U64, C, CTR_RARE, 1, 2}, {"ip.inaddrerrors", U64, C, CTR_RARE, 1, 2},
    {"ip.inunknownprotos", U64, C, CTR_RARE, 1, 2}, {"ip.indiscards", U64, C, CTR_RARE, 1, 2},
    {"ip.outdiscards", U64, C, CTR_RARE, 1, 2}, {"ip.outnoroutes", U64, C, CTR_RARE, 1, 2},
    {"ip.reasmreqds", U64, C, CTR_RARE, 1, 3}, {"ip.fragcreates", U64, C, CTR_RARE, 1, 3},
    {NULL}
};
static const struct leaf filesys[] = {
    {"capacity", U64, D, G_CONST, 5e7, 2e9}, {"used", U64, I, G_WALK, 1e7, 1e9},
    {"free", U64, I, G_WALK, 1e7, 1e9}, {"maxfiles", U32, D, G_CONST, 3e6, 1.2e8},
    {"usedfiles", U32, I, G_WALK, 1e4, 2e6}, {"freefiles", U32, I, G_WALK, 1e6, 1e8},
    {"full", DBL, I, G_WALK, 5, 95}, {"blocksize", U32, D, G_CONST, 4096, 4096},
    {"avail", U64, I, G_WALK, 1e7, 1e9}, {"readonly", U32, D, G_CONST, 0, 0},
    {NULL}
};
static const struct leaf hotproc[] = {
    {"psinfo.utime", U64, C, CTR, 1, 400}, {"psinfo.stime", U64, C, CTR, 1, 200},
    {"psinfo.rss", U64, I, G_DAY, 2e3, 4e6}, {"psinfo.vsize", U64, I, G_WALK, 1e4, 2e7},
    {"psinfo.minflt", U64, C, CTR, 1, 3000}, {"psinfo.maj_flt", U64, C, CTR_RARE, 1, 5},
    {"psinfo.threads", U32, I, G_WALK, 1, 200}, {"psinfo.processor", I32, I, G_CONST, 0, 31},
    {"io.rchar", U64, C, CTR, 100, 4e6}, {"io.wchar", U64, C, CTR, 100, 3e6},
    {"io.read_bytes", U64, C, CTR, 10, 2e6}, {"io.write_bytes", U64, C, CTR, 10, 2e6},
    {NULL}
};
static const struct leaf cgroup[] = {
    {"cpu.stat.user", U64, C, CTR, 1e3, 4e5}, {"cpu.stat.system", U64, C, CTR, 1e3, 2e5},
    {"cpu.stat.usage", U64, C, CTR, 2e3, 6e5}, {"memory.current", U64, I, G_DAY, 1e6, 4e9},
    {"memory.stat.anon", U64, I, G_DAY, 1e6, 3e9},
    {NULL}
};
static const struct leaf numa[] = {
    {"total", U64, I, G_CONST, 32e6, 32e6}, {"free", U64, I, G_DAY, 2e6, 6e6},
    {"used", U64, I, G_DAY, 20e6, 30e6}, {"active", U64, I, G_DAY, 6e6, 12e6},
    {"inactive", U64, I, G_DAY, 3e6, 7e6}, {"filePages", U64, I, G_DAY, 5e6, 10e6},
    {"anonpages", U64, I, G_DAY, 5e6, 12e6}, {"slab", U64, I, G_WALK, 4e5, 1e6},
    {NULL}
};

static const struct group groups[] = {
    {"kernel.all", 60, 0, 0, NULL, kernel_all},
    {"kernel.all", 60, 2, 3, name_load, kernel_all_load},
    {"kernel.percpu.cpu", 60, 10, 32, name_cpu, percpu},
    {"mem.util", 60, 1, 0, NULL, mem_util},
    {"mem.vmstat", 60, 28, 0, NULL, mem_vmstat},
    {"disk.dev", 60, 4, 8, name_disk, disk},
    {"disk.partitions", 60, 5, 24, name_part, partitions},
    {"network.interface", 60, 3, 8, name_net, netif},
    {"network", 60, 14, 0, NULL, nettcp},
    {"filesys", 60, 20, 12, name_fs, filesys},
    {"hotproc", 3, 0, 64, name_proc, hotproc},
    {"cgroup", 11, 0, 24, name_cgroup, cgroup},
    {"mem.numa.util", 60, 36, 2, name_node, numa},
};
#define NGROUP (int)(sizeof(groups) / sizeof(groups[0]))

/* -- per-series state -------------------------------------------------- */

struct series {
    int		handle;
    int		type;
    enum shape	shape;
    double	scale;		/* rate or level */
    double	noise;		/* AR(1) log-noise */
    double	acc;		/* counter value, or walk position in [0,1] */
    double	phase;		/* hours the series' day is shifted by */
};

static struct series *series;
static int nseries;

/* activity: 0.15 at night to 1 at the afternoon peak, with spikes */
static double
diurnal(double t, double phase)
{
    double h = fmod(t / 3600.0 + phase, 24.0);
    double x = 0.5 * (1 + cos((h - 15.0) * 2 * M_PI / 24));
    double a = 0.15 + 0.85 * pow(x, 1.6);
    int dow = (int)(t / 86400 + 4) % 7;	/* 0 = Sunday (1970-01-01 was a Thursday) */
    if (dow == 0 || dow == 6)
	a *= 0.55;			/* quieter weekend */
    return a;
}

static void
format_value(struct series *s, double v, char *buf)
{
    switch (s->type) {
    case U64:
	snprintf(buf, 32, "%" PRIu64, (uint64_t)(v < 0 ? 0 : v));
	break;
    case U32:
	snprintf(buf, 32, "%" PRIu32, (uint32_t)(uint64_t)(v < 0 ? 0 : v));	/* counters wrap */
	break;
    case I32:
	snprintf(buf, 32, "%" PRId32, (int32_t)v);
	break;
    case FLT:
	snprintf(buf, 32, "%.2f", v);
	break;
    default:
	snprintf(buf, 32, "%.3f", v);
	break;
    }
}

static void
check(int sts, const char *what)
{
    if (sts < 0) {
	fprintf(stderr, "pcpgen: %s: %s\n", what, pmiErrStr(sts));
	exit(1);
    }
}

static void
define(int divisor)
{
    char iname[256], full[256];
    int g, l, i, serial = 0;
    for (g = 0; g < NGROUP; g++) {
	const struct group *gp = &groups[g];
	int ninst = gp->ninst ? (gp->ninst / divisor > 0 ? gp->ninst / divisor : 1) : 0;
	pmInDom indom = PM_INDOM_NULL;
	if (ninst) {
	    indom = pmiInDom(gp->domain, serial++);
	    for (i = 0; i < ninst; i++)
		check(pmiAddInstance(indom, gp->iname(i, iname), i), "pmiAddInstance");
	}
	for (l = 0; gp->leaves[l].name; l++) {
	    const struct leaf *lp = &gp->leaves[l];
	    pmUnits units = {0};
	    snprintf(full, sizeof(full), "%s.%s", gp->prefix, lp->name);
	    if (lp->sem == C)
		units.dimCount = 1, units.scaleCount = PM_COUNT_ONE;
	    check(pmiAddMetric(full, pmiID(gp->domain, gp->cluster, l), lp->type, indom, lp->sem, units), full);
	    for (i = 0; i < (ninst ? ninst : 1); i++) {
		struct series *s;
		series = realloc(series, (nseries + 1) * sizeof(*series));
		s = &series[nseries++];
		memset(s, 0, sizeof(*s));
		s->handle = pmiGetHandle(full, ninst ? gp->iname(i, iname) : "");
		check(s->handle, "pmiGetHandle");
		s->type = lp->type;
		s->shape = lp->shape;
		s->scale = lp->lo > 0 && lp->hi > lp->lo ? loguniform(lp->lo, lp->hi) : lp->lo + (lp->hi - lp->lo) * uniform();
		if (s->shape == G_CONST && (lp->type == U32 || lp->type == U64 || lp->type == I32))
		    s->scale = floor(s->scale);
		s->phase = gauss() * 1.5;
		s->acc = s->shape == G_WALK ? 0.3 + 0.4 * uniform() : s->scale * 86400 * 40 * uniform();
	    }
	}
    }
}

/* value of series s at time t, dt seconds after its previous sample */
static double
step(struct series *s, double t, double dt, double host)
{
    double a;
    switch (s->shape) {
    case CTR:
	s->noise = 0.9 * s->noise + 0.12 * gauss();
	a = diurnal(t, s->phase) * host * exp(s->noise);
	s->acc += floor(s->scale * a * dt + uniform());
	return s->acc;
    case CTR_RARE:
	if (uniform() < 0.002 * diurnal(t, s->phase))
	    s->acc += 1 + floor(s->scale * 10 * uniform());
	return s->acc;
    case G_DAY:
	s->noise = 0.95 * s->noise + 0.05 * gauss();
	return s->scale * (0.3 + 0.7 * diurnal(t, s->phase) * host) * exp(s->noise);
    case G_WALK:
	s->acc += 0.0004 * gauss() + 0.00001;
	if (s->acc < 0.02)
	    s->acc = 0.02;
	if (s->acc > 0.98)
	    s->acc = 0.98;
	return s->scale * s->acc;
    default:
	return s->scale;
    }
}

int
main(int argc, char **argv)
{
    const char *out = NULL, *host = "bench-host";
    uint64_t seed = 1;
    long start = 0;
    int days = 7, interval = 10, divisor = 1, version = 2, c, d, n;
    uint64_t records = 0, values = 0;
    double hostnoise = 0, prev = 0;
    char buf[64], path[4096];
    struct timespec t0, t1;

    while ((c = getopt(argc, argv, "o:s:t:d:i:x:H:V:")) != -1) {
	switch (c) {
	case 'o': out = optarg; break;
	case 's': seed = strtoull(optarg, NULL, 10); break;
	case 't': start = strtol(optarg, NULL, 10); break;
	case 'd': days = atoi(optarg); break;
	case 'i': interval = atoi(optarg); break;
	case 'x': divisor = atoi(optarg); break;
	case 'H': host = optarg; break;
	case 'V': version = atoi(optarg); break;
	default: goto usage;
	}
    }
    if (!out || start <= 0 || start % 86400 || days < 1 || interval < 1 || divisor < 1) {
usage:
	fprintf(stderr, "usage: pcpgen -o DIR -s SEED -t START(UTC midnight, epoch s) [-d DAYS] [-i INTERVAL] [-x DIVISOR] [-H HOST] [-V 2|3]\n");
	return 2;
    }
    mkdir(out, 0755);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (d = 0; d < days; d++) {
	time_t day = start + (long)d * 86400;
	struct tm tm;
	double t;
	long k, per = 86400 / interval;
	gmtime_r(&day, &tm);
	snprintf(path, sizeof(path), "%s/%04d%02d%02d", out, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	check(pmiStart(path, 0), "pmiStart");
	check(pmiSetVersion(version), "pmiSetVersion");
	check(pmiSetHostname(host), "pmiSetHostname");
	check(pmiSetTimezone("UTC"), "pmiSetTimezone");
	/* Every day defines the same metrics and series; the RNG stream
	 * consumed by define() is restarted so each day's series get the
	 * same scales, and the running state carries over. */
	{
	    struct series *keep = series;
	    int nkeep = nseries;
	    rng_state = seed;
	    series = NULL;
	    nseries = 0;
	    define(divisor);
	    if (keep) {
		for (n = 0; n < nseries; n++) {
		    int h = series[n].handle;
		    series[n] = keep[n];
		    series[n].handle = h;
		}
		free(keep);
	    }
	    (void)nkeep;
	    rng_state = seed ^ (0x5851f42d4c957f2dULL * (uint64_t)(d + 1));
	}
	for (k = 0; k < per; k++) {
	    /* pmlogger's timer: a few ms late, never early */
	    double jitter = 0.0005 + 0.004 * uniform();
	    int sec, usec;
	    t = (double)day + (double)k * interval + jitter;
	    hostnoise = 0.97 * hostnoise + 0.04 * gauss();
	    for (n = 0; n < nseries; n++) {
		double v = step(&series[n], t, prev ? t - prev : interval, exp(hostnoise));
		format_value(&series[n], v, buf);
		check(pmiPutValueHandle(series[n].handle, buf), "pmiPutValueHandle");
	    }
	    sec = (int)t;
	    usec = (int)((t - sec) * 1e6);
	    check(pmiWrite(sec, usec), "pmiWrite");
	    prev = t;
	    records++;
	    values += nseries;
	}
	check(pmiEnd(), "pmiEnd");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("{\"series\":%d,\"records\":%" PRIu64 ",\"values\":%" PRIu64 ",\"seconds\":%.3f}\n",
	   nseries, records, values, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
