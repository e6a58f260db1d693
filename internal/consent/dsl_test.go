package consent

import (
	"fmt"
	"strings"
	"time"
)

// The consent DSL used by scenario scripts and golden files. One provision
// per line, nested provisions indented two spaces deeper than their parent:
//
//	permit actors=org:h1,id:dr2,role:nurse actions=access purposes=TREAT
//	  deny labels=PSY if: record.date < timestamp('2020-01-01T00:00:00Z')
//
// Keys: actors (kind:id), actions, purposes, classes, codes, labels,
// records (comma-separated), period and data (START..END, either side may
// be empty). "if:" takes the rest of the line as the CEL condition.

func parseProvisions(lines []string) (Provision, error) {
	type frame struct {
		indent int
		p      *Provision
	}
	var root Provision
	var stack []frame
	seenRoot := false
	for n, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		p, err := parseProvisionLine(strings.TrimSpace(line))
		if err != nil {
			return Provision{}, fmt.Errorf("line %d: %w", n+1, err)
		}
		if !seenRoot {
			if indent != 0 {
				return Provision{}, fmt.Errorf("line %d: the root provision must not be indented", n+1)
			}
			root = p
			stack = []frame{{0, &root}}
			seenRoot = true
			continue
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return Provision{}, fmt.Errorf("line %d: only one root provision", n+1)
		}
		parent := stack[len(stack)-1].p
		parent.Provisions = append(parent.Provisions, p)
		stack = append(stack, frame{indent, &parent.Provisions[len(parent.Provisions)-1]})
	}
	if !seenRoot {
		return Provision{}, fmt.Errorf("no provision")
	}
	return root, nil
}

func parseProvisionLine(line string) (Provision, error) {
	var p Provision
	if i := strings.Index(line, "if:"); i >= 0 {
		p.Condition = strings.TrimSpace(line[i+3:])
		line = strings.TrimSpace(line[:i])
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return p, fmt.Errorf("empty provision")
	}
	switch fields[0] {
	case "permit":
		p.Type = Permit
	case "deny":
		p.Type = Deny
	case "untyped":
		p.Type = 0
	default:
		return p, fmt.Errorf("provision must start with permit or deny, not %q", fields[0])
	}
	for _, f := range fields[1:] {
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			return p, fmt.Errorf("%q is not key=value", f)
		}
		list := strings.Split(val, ",")
		var err error
		switch key {
		case "actors":
			for _, a := range list {
				kind, id, _ := strings.Cut(a, ":")
				switch kind {
				case "id":
					p.Actors = append(p.Actors, Identity(id))
				case "org":
					p.Actors = append(p.Actors, Organization(id))
				case "role":
					p.Actors = append(p.Actors, Role(id))
				default:
					return p, fmt.Errorf("actor %q: want id:, org: or role:", a)
				}
			}
		case "actions":
			for _, a := range list {
				p.Actions = append(p.Actions, Action(a))
			}
		case "purposes":
			for _, a := range list {
				p.Purposes = append(p.Purposes, Purpose(a))
			}
		case "classes":
			p.Classes = list
		case "codes":
			p.Codes = list
		case "labels":
			p.Labels = list
		case "records":
			p.Records = list
		case "period":
			p.Period, err = parsePeriodArg(val)
		case "data":
			p.DataPeriod, err = parsePeriodArg(val)
		default:
			return p, fmt.Errorf("unknown key %q", key)
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func parsePeriodArg(s string) (Period, error) {
	start, end, ok := strings.Cut(s, "..")
	if !ok {
		return Period{}, fmt.Errorf("period %q: want START..END", s)
	}
	var p Period
	var err error
	if start != "" {
		if p.Start, err = parseTimeArg(start); err != nil {
			return p, err
		}
	}
	if end != "" {
		if p.End, err = parseTimeArg(end); err != nil {
			return p, err
		}
	}
	return p, nil
}

// parseTimeArg reads RFC 3339, or a bare date meaning midnight UTC.
func parseTimeArg(s string) (time.Time, error) {
	if len(s) == 10 {
		return time.Parse("2006-01-02", s)
	}
	return time.Parse(time.RFC3339Nano, s)
}

func formatTimeArg(t time.Time) string {
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		return t.Format("2006-01-02")
	}
	return t.Format(time.RFC3339Nano)
}

func formatPeriodArg(p Period) string {
	var s string
	if !p.Start.IsZero() {
		s = formatTimeArg(p.Start)
	}
	s += ".."
	if !p.End.IsZero() {
		s += formatTimeArg(p.End)
	}
	return s
}

// formatConsent renders a consent in the DSL, with a header line.
func formatConsent(c Consent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "consent id=%s status=%s patient=%s grantor=%s", c.ID, c.Status, c.Patient, c.Grantor)
	if !c.DateTime.IsZero() {
		fmt.Fprintf(&b, " date=%s", formatTimeArg(c.DateTime))
	}
	b.WriteString("\n")
	formatProvision(&b, &c.Provision, 0)
	return b.String()
}

func formatProvision(b *strings.Builder, p *Provision, depth int) {
	b.WriteString(strings.Repeat("  ", depth))
	b.WriteString(p.Type.String())
	list := func(key string, items []string) {
		if len(items) > 0 {
			fmt.Fprintf(b, " %s=%s", key, strings.Join(items, ","))
		}
	}
	var actors []string
	for _, a := range p.Actors {
		actors = append(actors, a.String())
	}
	list("actors", actors)
	list("actions", toStrings(p.Actions))
	list("purposes", toStrings(p.Purposes))
	list("classes", p.Classes)
	list("codes", p.Codes)
	list("labels", p.Labels)
	list("records", p.Records)
	if !p.Period.IsZero() {
		fmt.Fprintf(b, " period=%s", formatPeriodArg(p.Period))
	}
	if !p.DataPeriod.IsZero() {
		fmt.Fprintf(b, " data=%s", formatPeriodArg(p.DataPeriod))
	}
	if p.Condition != "" {
		fmt.Fprintf(b, " if: %s", p.Condition)
	}
	b.WriteString("\n")
	for i := range p.Provisions {
		formatProvision(b, &p.Provisions[i], depth+1)
	}
}

func toStrings[S ~string](in []S) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}
