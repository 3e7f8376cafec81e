package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pcp-remote-read/pcp-remote-read/adapter"
	"github.com/pcp-remote-read/pcp-remote-read/adapter/promapi"
)

// errHelp is what parseFlags returns once it has printed help (or what
// --help-long, --help-man and the completion flags print): the program
// then exits 0.
var errHelp = errors.New("help printed")

type config struct {
	archives       []string // --archive, then the positional PATHs
	paths          []string // positional PATHs, until parseFlags merges them
	listen         string
	webConfig      string
	logLevel       string
	logFormat      string
	showVersion    bool
	rescan         time.Duration
	cacheArchives  int
	cacheBytes     int64
	tableDir       string
	tableMaxBytes  int64
	tableBuilders  int
	maxSamples     int64
	maxConcurrent  int
	lookbackDelta  time.Duration
	queryTimeout   time.Duration
	maxFrameBytes  int
	maxRequestSize int64
	stallTimeout   time.Duration
	agentLabels    bool
	externalLabels labels.Labels
	flagValues     map[string]string // every flag's value, for /api/v1/status/flags
}

// parseFlags reads the command line: flags in Prometheus' double-dash
// style and PATHs, in any order. Help goes to stdout. An error names the
// flag and what it wants; the caller prints it and exits 2.
func parseFlags(args []string, stdout, stderr io.Writer) (*config, error) {
	c := &config{}
	app := newApp(c, stdout, stderr)
	if err := singleDash(args, app); err != nil {
		return nil, err
	}
	// kingpin ends the process after help; here it only tells us, so that
	// tests (and run) get an exit code instead.
	printed := false
	app.Terminate(func(int) { printed = true })
	_, err := app.Parse(args)
	if printed {
		return nil, errHelp
	}
	if err != nil {
		return nil, err
	}
	c.archives = append(c.archives, c.paths...)
	c.paths = nil
	c.flagValues = map[string]string{}
	for _, f := range app.Model().Flags {
		switch {
		case f.Hidden, f.Name == "help", f.Name == "help-long", f.Name == "help-man", f.Name == "version":
			// kingpin's own, which say nothing of how we serve
		default:
			c.flagValues[f.Name] = f.Value.String()
		}
	}
	return c, nil
}

func newApp(c *config, stdout, stderr io.Writer) *kingpin.Application {
	app := kingpin.New("pcp-remote-read", "Serves PCP archives to Prometheus (remote read at /api/v1/read) and to Grafana "+
		"(the Prometheus query API: /api/v1/query, query_range, series, labels, ...).\n\n"+
		"PATHs (and --archive) are archive base names, any archive file, or directories, which are walked; "+
		"with none, $PCP_ARCHIVE_DIR (default /var/log/pcp/pmlogger) is served.\n\n"+
		"Durations need a unit (30s, 5m, 1h30m); sizes take one (512MiB, 1GiB) or are plain bytes.")
	app.UsageWriter(stdout).ErrorWriter(stderr)
	app.UsageTemplate(usageTemplate).UsageFuncs(template.FuncMap{"FlagGroups": groupFlags})
	app.HelpFlag.Short('h').Help("Show this help and exit.")
	app.Flag("version", "Print the version and exit.").SetValue(versionValue{&c.showVersion})
	addServeFlags(app, c)
	addQueryFlags(app, c)
	app.Arg("path", "Archives or directories to serve, as --archive.").PlaceHolder("PATH...").StringsVar(&c.paths)
	return app
}

// addServeFlags adds the flags of what is served and how: archives, HTTP,
// logging and caches.
func addServeFlags(app *kingpin.Application, c *config) {
	app.Flag("archive", "Archive to serve: a base name, any archive file, a directory (walked), or a comma list of these; repeatable.").
		Short('a').PlaceHolder("PATH").StringsVar(&c.archives)
	durationFlag(app, "archive.rescan-interval", "Rescan the paths for new archives this often (0: only when a query reaches past the newest data).",
		time.Minute, &c.rescan)

	app.Flag("web.listen-address", "Address to listen on, host:port (an empty host listens on every address).").
		Default(defaultListen).StringVar(&c.listen)
	app.Flag("web.config.file", "TLS and basic-auth configuration, in the exporter-toolkit web config format.").
		PlaceHolder("FILE").StringVar(&c.webConfig)
	durationFlag(app, "web.stall-timeout", "Drop a client whose request body or response makes no progress for this long (0: never).",
		adapter.DefaultStallTimeout, &c.stallTimeout)

	app.Flag("log.level", "Log level: debug, info, warn or error.").Default("info").StringVar(&c.logLevel)
	app.Flag("log.format", "Log format: logfmt or json.").Default("logfmt").StringVar(&c.logFormat)

	intFlag(app, "cache.archives", "Archives whose metadata is kept in memory.", 16, &c.cacheArchives)
	app.Flag("cache.bytes", "Archive metadata kept in memory, in bytes with a unit (512MiB, 1GiB, 64KiB) or plain bytes.").
		Default("512MiB").SetValue(bytesValue{name: "cache.bytes", n: &c.cacheBytes})
	app.Flag("cache.dir", "Directory for column tables of archives (built in the background, safe to delete; "+
		"never inside an archive directory); empty disables them.").
		Default(defaultTableDir()).StringVar(&c.tableDir)
	app.Flag("cache.dir-size", "Largest total size of the column tables in --cache.dir, with a unit (10GiB) or plain bytes; "+
		"past it the least recently used are removed (0: no bound).").
		Default("10GiB").SetValue(bytesValue{name: "cache.dir-size", n: &c.tableMaxBytes})
	intFlag(app, "cache.build-cpus", "Column tables built at once in the background, each on one CPU at most (> 0); "+
		"they slow to a quarter while queries read archives that have no table.", 1, &c.tableBuilders)
}

// addQueryFlags adds the limits of queries and remote reads.
func addQueryFlags(app *kingpin.Application, c *config) {
	ro := adapter.DefaultReadOptions()
	intFlag(app, "query.max-samples", "Samples one query may select (0: no limit); over it a remote read fails with 400 before any data, a PromQL query with 422.",
		ro.MaxSamplesPerQuery, &c.maxSamples)
	intFlag(app, "query.max-concurrency", "Remote reads served at once (> 0; more wait up to 10s, then get 429), and PromQL queries evaluated at once (more wait within their timeout).",
		ro.MaxConcurrent, &c.maxConcurrent)
	durationFlag(app, "query.lookback-delta", "How far back PromQL looks for a sample of a series at each evaluation time (> 0).",
		promapi.DefaultLookbackDelta, &c.lookbackDelta)
	durationFlag(app, "query.timeout", "Longest a PromQL query may run, queueing included (> 0); then it fails with 503.",
		promapi.DefaultQueryTimeout, &c.queryTimeout)

	app.Flag("labels.agent", "Also give series PCP's domain and cluster labels (agent=\"linux\"), as pmproxy's /metrics does from PCP 6.2.2 on; without it, series have the labels pmproxy 6.0 gives them.").
		BoolVar(&c.agentLabels)

	app.Flag("labels.external", "A label every remote-read series gets, as Prometheus' external_labels (a Thanos sidecar needs one); repeatable. "+
		"Matchers on its name are decided by its value; it replaces a series label of the same name.").
		PlaceHolder("NAME=VALUE").SetValue(&externalValue{ext: &c.externalLabels})

	intFlag(app, "remote-read.max-bytes-in-frame", "Largest streamed frame (one whole series) in bytes; keep below the client's chunked_read_limit (5e7).",
		ro.MaxBytesPerFrame, &c.maxFrameBytes)
	intFlag(app, "remote-read.max-request-bytes", "Largest remote-read request body in bytes, compressed and decompressed.",
		ro.MaxRequestBytes, &c.maxRequestSize)
}

func durationFlag(app *kingpin.Application, name, help string, def time.Duration, p *time.Duration) {
	app.Flag(name, help).Default(model.Duration(def).String()).SetValue(durationValue{name: name, d: p})
}

func intFlag[T int | int64](app *kingpin.Application, name, help string, def T, p *T) {
	app.Flag(name, help).Default(strconv.FormatInt(int64(def), 10)).SetValue(intValue[T]{name: name, n: p})
}

// singleDash refuses a long flag given with one dash, as Go's flag package
// allows: kingpin would read "-archive" as "-a rchive" and "-version" as
// an unknown "-v", neither of which says what is wrong.
func singleDash(args []string, app *kingpin.Application) error {
	long := map[string]bool{}
	for _, f := range app.Model().Flags {
		long[f.Name] = true
	}
	for _, a := range args {
		if a == "--" {
			return nil
		}
		if !strings.HasPrefix(a, "-") || strings.HasPrefix(a, "--") {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && long[name] {
			return fmt.Errorf("%s: long flags take two dashes: --%s", a, a[1:])
		}
	}
	return nil
}

// versionValue is --version. kingpin sets no defaults at all when a flag
// named version is given, so --no-version is refused rather than serving
// with every flag at zero.
type versionValue struct{ show *bool }

func (v versionValue) IsBoolFlag() bool { return true }
func (v versionValue) String() string   { return strconv.FormatBool(*v.show) }

func (v versionValue) Set(s string) error {
	if s != "true" {
		return errors.New("--no-version: leave the flag out instead")
	}
	*v.show = true
	return nil
}

// durationValue is a duration flag whose errors name the flag, and say
// that a unit is wanted when a bare number was given (time.ParseDuration
// only says "missing unit").
type durationValue struct {
	name string
	d    *time.Duration
}

func (v durationValue) String() string { return v.d.String() }

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	switch {
	case err == nil && d < 0:
		return fmt.Errorf("--%s: %q is negative; want a duration such as 30s or 1m", v.name, s)
	case err == nil:
		*v.d = d
		return nil
	}
	if _, ferr := strconv.ParseFloat(s, 64); ferr == nil {
		return fmt.Errorf("--%s: %q needs a unit, e.g. %ss or 1m", v.name, s, s)
	}
	return fmt.Errorf("--%s: %q is not a duration; want e.g. 30s, 1m30s or 2h", v.name, s)
}

// bytesValue is a size flag: a number with a base-2 unit (512MiB, 1GiB,
// 64KiB; KB and MB mean the same) or plain bytes.
type bytesValue struct {
	name string
	n    *int64
}

func (v bytesValue) String() string { return units.Base2Bytes(*v.n).String() }

func (v bytesValue) Set(s string) error {
	n, err := parseBytes(s)
	switch {
	case err != nil:
		return fmt.Errorf("--%s: %q is not a size; want bytes with a unit, e.g. 512MiB, 1GiB or 64KiB, or plain bytes such as 1048576", v.name, s)
	case n < 0:
		return fmt.Errorf("--%s: %q is negative; want a size such as 512MiB", v.name, s)
	}
	*v.n = n
	return nil
}

// parseBytes reads plain bytes first: units.ParseBase2Bytes wants a unit
// on every number.
func parseBytes(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	b, err := units.ParseBase2Bytes(s)
	return int64(b), err
}

// intValue is an integer flag whose errors name the flag (kingpin's own
// say only what strconv said).
type intValue[T int | int64] struct {
	name string
	n    *T
}

func (v intValue[T]) String() string { return strconv.FormatInt(int64(*v.n), 10) }

func (v intValue[T]) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || int64(T(n)) != n {
		return fmt.Errorf("--%s: %q is not an integer", v.name, s)
	}
	*v.n = T(n)
	return nil
}

// flagGroup is one heading of the help: the flags whose names share the
// part before the first dot.
type flagGroup struct {
	Title string
	Flags []*kingpin.FlagModel
}

// groupFlags groups the visible flags by prefix, in the order they were
// defined, as the help of the Prometheus exporters reads.
func groupFlags(flags []*kingpin.FlagModel) []flagGroup {
	var groups []flagGroup
	at := map[string]int{}
	for _, f := range flags {
		if f.Hidden {
			continue
		}
		title := groupTitle(f.Name)
		i, ok := at[title]
		if !ok {
			i = len(groups)
			at[title] = i
			groups = append(groups, flagGroup{Title: title})
		}
		groups[i].Flags = append(groups[i].Flags, f)
	}
	return groups
}

func groupTitle(flag string) string {
	prefix, _, _ := strings.Cut(flag, ".")
	switch prefix {
	case "archive":
		return "Archives"
	case "web":
		return "HTTP server"
	case "log":
		return "Logging"
	case "cache":
		return "Caches"
	case "query":
		return "Queries"
	case "remote-read":
		return "Remote read"
	case "labels":
		return "Series labels"
	}
	return "General"
}

// usageTemplate is kingpin's default layout with the flags under
// headings, each flag on a line of its own above its help so that long
// names and defaults do not push the help about, and the dump subcommand
// (which has flags of its own).
const usageTemplate = `usage: {{.App.Name}} [<flags>] [PATH...]
       {{.App.Name}} dump [-meta] [-index] ARCHIVE

{{.App.Help|Wrap 0}}
{{- range FlagGroups .Context.Flags}}
{{.Title}}:
{{range .Flags}}  {{FormatFlag true .}}
{{.HelpWithEnvar|Wrap 10}}{{end}}
{{- end}}
{{- range .Context.Args}}
Arguments:
  {{.PlaceHolder}}
{{.HelpWithEnvar|Wrap 10}}{{end -}}
`

// externalValue collects --labels.external NAME=VALUE pairs, refusing a
// pair without "=", a name given twice, and what adapter.CheckExternalLabels
// refuses.
type externalValue struct{ ext *labels.Labels }

func (v *externalValue) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q: want NAME=VALUE", s)
	}
	if v.ext.Has(name) {
		return fmt.Errorf("%q: label %s given twice", s, name)
	}
	l := labels.FromStrings(name, value)
	if err := adapter.CheckExternalLabels(l); err != nil {
		return err
	}
	b := labels.NewBuilder(*v.ext)
	b.Set(name, value)
	*v.ext = b.Labels()
	return nil
}

func (v *externalValue) String() string {
	var parts []string
	v.ext.Range(func(l labels.Label) { parts = append(parts, l.Name+"="+l.Value) })
	return strings.Join(parts, ",")
}

func (v *externalValue) IsCumulative() bool { return true }
