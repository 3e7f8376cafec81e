// Package archive reads one Performance Co-Pilot archive: its label records,
// metadata (.meta), temporal index (.index) and data volumes (.0 .. .N), plain
// or compressed, in pure Go. The layout follows the code of libpcp, not the
// LOGARCHIVE(5) man page, where the two disagree (see
// docs/pcp-archive-format.md §14).
package archive

import "fmt"

// PMID identifies a metric: 9 bits domain, 12 bits cluster, 10 bits item.
type PMID uint32

// PMIDNull is PM_ID_NULL.
const PMIDNull PMID = 0xffffffff

func (p PMID) Domain() uint32  { return uint32(p) >> 22 & 0x1ff }
func (p PMID) Cluster() uint32 { return uint32(p) >> 10 & 0xfff }
func (p PMID) Item() uint32    { return uint32(p) & 0x3ff }

// String prints the PMID the way pminfo does: domain.cluster.item.
func (p PMID) String() string {
	if p == PMIDNull {
		return "PM_ID_NULL"
	}
	return fmt.Sprintf("%d.%d.%d", p.Domain(), p.Cluster(), p.Item())
}

// InDom identifies an instance domain: 9 bits domain, 22 bits serial.
type InDom uint32

// InDomNull marks a metric with a single value (PM_INDOM_NULL).
const InDomNull InDom = 0xffffffff

func (d InDom) Domain() uint32 { return uint32(d) >> 22 & 0x1ff }
func (d InDom) Serial() uint32 { return uint32(d) & 0x3fffff }

func (d InDom) String() string {
	if d == InDomNull {
		return "PM_INDOM_NULL"
	}
	return fmt.Sprintf("%d.%d", d.Domain(), d.Serial())
}

// InstNull is the instance id of the one value of a singular metric.
const InstNull int32 = -1

// Type is a PM_TYPE_* value type.
type Type int32

const (
	TypeNoSupport       Type = -1
	Type32              Type = 0
	TypeU32             Type = 1
	Type64              Type = 2
	TypeU64             Type = 3
	TypeFloat           Type = 4
	TypeDouble          Type = 5
	TypeString          Type = 6
	TypeAggregate       Type = 7
	TypeAggregateStatic Type = 8
	TypeEvent           Type = 9
	TypeHighResEvent    Type = 10
	TypeUnknown         Type = 255
)

var typeNames = map[Type]string{
	TypeNoSupport: "NOSUPPORT", Type32: "32", TypeU32: "U32", Type64: "64", TypeU64: "U64",
	TypeFloat: "FLOAT", TypeDouble: "DOUBLE", TypeString: "STRING", TypeAggregate: "AGGREGATE",
	TypeAggregateStatic: "AGGREGATE_STATIC", TypeEvent: "EVENT", TypeHighResEvent: "HIGHRES_EVENT",
	TypeUnknown: "UNKNOWN",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", int32(t))
}

// Numeric reports whether values of this type are numbers (served as samples).
func (t Type) Numeric() bool { return t >= Type32 && t <= TypeDouble }

// Sem is a PM_SEM_* semantics value.
type Sem int32

const (
	SemCounter  Sem = 1
	SemInstant  Sem = 3
	SemDiscrete Sem = 4
)

func (s Sem) String() string {
	switch s {
	case SemCounter:
		return "counter"
	case SemInstant:
		return "instant"
	case SemDiscrete:
		return "discrete"
	}
	return fmt.Sprintf("sem(%d)", int32(s))
}

// Units is a packed pmUnits word as stored on disk.
type Units uint32

func signed4(v uint32) int { return int(int32(v<<28) >> 28) }

func (u Units) DimSpace() int      { return signed4(uint32(u) >> 28) }
func (u Units) DimTime() int       { return signed4(uint32(u) >> 24) }
func (u Units) DimCount() int      { return signed4(uint32(u) >> 20) }
func (u Units) ScaleSpace() uint32 { return uint32(u) >> 16 & 0xf }
func (u Units) ScaleTime() uint32  { return uint32(u) >> 12 & 0xf }
func (u Units) ScaleCount() int    { return signed4(uint32(u) >> 8) }

// String renders units roughly like pmUnitsStr: "Kbyte", "millisec", "count / sec".
func (u Units) String() string {
	var num, den []string
	add := func(dim int, name string) {
		for i := 0; i < dim; i++ {
			num = append(num, name)
		}
		for i := 0; i > dim; i-- {
			den = append(den, name)
		}
	}
	spaceNames := []string{"byte", "Kbyte", "Mbyte", "Gbyte", "Tbyte", "Pbyte", "Ebyte", "Zbyte", "Ybyte"}
	timeNames := []string{"nanosec", "microsec", "millisec", "sec", "min", "hour"}
	sp, tm := "byte", "sec"
	if s := int(u.ScaleSpace()); s < len(spaceNames) {
		sp = spaceNames[s]
	}
	if s := int(u.ScaleTime()); s < len(timeNames) {
		tm = timeNames[s]
	}
	cnt := "count"
	if sc := u.ScaleCount(); sc != 0 {
		cnt = fmt.Sprintf("count x 10^%d", sc)
	}
	add(u.DimSpace(), sp)
	add(u.DimTime(), tm)
	add(u.DimCount(), cnt)
	out := ""
	for i, s := range num {
		if i > 0 {
			out += " "
		}
		out += s
	}
	if len(den) > 0 {
		if out == "" {
			out = "1"
		}
		out += " /"
		for _, s := range den {
			out += " " + s
		}
	}
	return out
}

// Desc is a metric descriptor (pmDesc) with the names the archive gives it.
type Desc struct {
	PMID  PMID
	Type  Type
	InDom InDom
	Sem   Sem
	Units Units
	Names []string
}
