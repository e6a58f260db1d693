package consent

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// A condition is a CEL expression that must be true for its provision to
// apply. Its variables are dotted names, so "request" alone is not a value
// and no expression can iterate over a map whose order Go randomizes.
// record.date is absent when the record's date is unknown.
//
// The standard library is available except what could make validators
// disagree: time-zone lookups (they read the host's zone database), and
// double, map and message values (floating point may round differently
// across machines; map iteration order varies and with it the cost of a
// short-circuiting macro). CEL has no clock or random functions.
var conditionVariables = []struct {
	name string
	typ  *cel.Type
}{
	{"request.requester", cel.StringType},
	{"request.org", cel.StringType},
	{"request.roles", cel.ListType(cel.StringType)},
	{"request.patient", cel.StringType},
	{"request.action", cel.StringType},
	{"request.purpose", cel.StringType},
	{"request.break_glass", cel.BoolType},
	{"record.id", cel.StringType},
	{"record.type", cel.StringType},
	{"record.codes", cel.ListType(cel.StringType)},
	{"record.labels", cel.ListType(cel.StringType)},
	{"record.author_org", cel.StringType},
	{"record.date", cel.TimestampType},
	{"block.height", cel.IntType},
	{"block.time", cel.TimestampType},
}

// variableNames lists the condition variables, for error messages.
func variableNames() string {
	names := make([]string, len(conditionVariables))
	for i, v := range conditionVariables {
		names[i] = v.name
	}
	return strings.Join(names, ", ")
}

// zoneOverloads read the host's time-zone database.
var zoneOverloads = []string{
	overloads.TimestampToYearWithTz, overloads.TimestampToMonthWithTz,
	overloads.TimestampToDayOfYearWithTz, overloads.TimestampToDayOfMonthZeroBasedWithTz,
	overloads.TimestampToDayOfMonthOneBasedWithTz, overloads.TimestampToDayOfWeekWithTz,
	overloads.TimestampToHoursWithTz, overloads.TimestampToMinutesWithTz,
	overloads.TimestampToSecondsWithTz, overloads.TimestampToMillisecondsWithTz,
}

// conditionEnv is built once: a CEL environment takes milliseconds to build
// and is safe for concurrent use.
var conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
	var opts []cel.EnvOption
	for _, v := range conditionVariables {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	opts = append(opts,
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(MaxConditionLen),
		cel.ParserRecursionLimit(32),
	)
	return cel.NewEnv(opts...)
})

// condition is a compiled, checked and costed CEL program.
type condition struct {
	prg  cel.Program
	cost uint64 // static upper bound of the runtime cost
}

// conditionCache holds compiled conditions by source text, so a condition
// is compiled once however often its consent is loaded into an index.
// Compilation is deterministic, so the cache changes speed, never results.
var conditionCache = struct {
	sync.Mutex
	m map[string]*condition
}{m: map[string]*condition{}}

const conditionCacheSize = 4096

// compileCondition compiles src, or returns an *Error with code
// CodeBadCondition (with the compiler's message) or CodeConditionTooCostly.
func compileCondition(src string) (*condition, error) {
	conditionCache.Lock()
	c := conditionCache.m[src]
	conditionCache.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := buildCondition(src)
	if err != nil {
		return nil, err
	}
	conditionCache.Lock()
	if len(conditionCache.m) >= conditionCacheSize {
		// Dropping everything is crude but cannot grow without bound, and
		// recompiling only costs time.
		conditionCache.m = map[string]*condition{}
	}
	conditionCache.m[src] = c
	conditionCache.Unlock()
	return c, nil
}

func buildCondition(src string) (*condition, error) {
	if len(src) > MaxConditionLen {
		return nil, errorf(CodeBadCondition, "", "condition is %d bytes, at most %d", len(src), MaxConditionLen)
	}
	if !utf8.ValidString(src) {
		return nil, errorf(CodeBadCondition, "", "condition is not valid UTF-8")
	}
	env, err := conditionEnv()
	if err != nil {
		// The environment is fixed at build time; failing here is a bug,
		// reported rather than panicked on.
		return nil, fmt.Errorf("build condition environment: %w", err)
	}
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		msg := iss.Err().Error()
		if strings.Contains(msg, "undeclared reference") {
			msg += "\nconditions may use " + variableNames()
		}
		return nil, errorf(CodeBadCondition, "", "%s", msg)
	}
	if !checked.OutputType().IsExactType(cel.BoolType) {
		return nil, errorf(CodeBadCondition, "", "condition has type %s, want bool", checked.OutputType())
	}
	if msg := forbidden(checked.NativeRep()); msg != "" {
		return nil, errorf(CodeBadCondition, "", "%s", msg)
	}
	est, err := env.EstimateCost(checked, sizeEstimator{})
	if err != nil {
		return nil, errorf(CodeBadCondition, "", "estimate cost: %v", err)
	}
	if est.Max > MaxConditionCost {
		return nil, errorf(CodeConditionTooCostly, "", "static cost estimate %d exceeds the limit %d", est.Max, MaxConditionCost)
	}
	prg, err := env.Program(checked,
		cel.CostLimit(MaxConditionCost),
		cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, errorf(CodeBadCondition, "", "plan: %v", err)
	}
	return &condition{prg: prg, cost: est.Max}, nil
}

// forbidden returns why a checked expression may not be used, or "". It
// visits ids in ascending order so that the message is the same on every
// validator.
func forbidden(a *celast.AST) string {
	var msg string
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if msg == "" && (e.Kind() == celast.MapKind || e.Kind() == celast.StructKind) {
			msg = "map and message literals are not allowed in conditions"
		}
	}))
	if msg != "" {
		return msg
	}
	typeMap := a.TypeMap()
	ids := make([]int64, 0, len(typeMap))
	for id := range typeMap {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if m := forbiddenType(typeMap[id]); m != "" {
			return m
		}
	}
	refs := a.ReferenceMap()
	ids = ids[:0]
	for id := range refs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, o := range refs[id].OverloadIDs {
			if slices.Contains(zoneOverloads, o) {
				return "time-zone arguments are not allowed in conditions: they read the host's zone database; times are UTC"
			}
		}
	}
	return ""
}

func forbiddenType(t *types.Type) string {
	if t == nil {
		return ""
	}
	switch t.Kind() {
	case types.DoubleKind:
		return "double values are not allowed in conditions: use int arithmetic"
	case types.MapKind:
		return "map values are not allowed in conditions"
	case types.StructKind:
		return "message values are not allowed in conditions"
	}
	for _, p := range t.Parameters() {
		if m := forbiddenType(p); m != "" {
			return m
		}
	}
	return ""
}

// sizeEstimator tells the cost estimator how large each variable can be.
// Decide refuses requests beyond these bounds, so the static estimate bounds
// the actual cost.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	item := len(path) > 1
	switch path[0] {
	case "request.roles":
		if item {
			return &checker.SizeEstimate{Min: 1, Max: MaxIDLen}
		}
		return &checker.SizeEstimate{Min: 0, Max: MaxRequestRoles}
	case "record.codes":
		if item {
			return &checker.SizeEstimate{Min: 1, Max: MaxTokenLen}
		}
		return &checker.SizeEstimate{Min: 0, Max: MaxRecordCodes}
	case "record.labels":
		if item {
			return &checker.SizeEstimate{Min: 1, Max: MaxIDLen}
		}
		return &checker.SizeEstimate{Min: 0, Max: MaxRecordLabels}
	case "request.requester", "request.org", "request.patient", "request.action",
		"request.purpose", "record.id", "record.type", "record.author_org":
		return &checker.SizeEstimate{Min: 0, Max: MaxIDLen}
	}
	return nil
}

func (sizeEstimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// eval runs the condition. Any error, including the cost limit, is
// returned; the caller decides what an error means (fail closed).
func (c *condition) eval(act *activation) (bool, error) {
	out, _, err := c.prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("condition returned %s, not bool", out.Type())
	}
	return bool(b), nil
}

// activation resolves the condition variables from a request and a block.
// Lists are converted on first use; one activation serves every condition
// of one decision.
type activation struct {
	req                 Request
	block               Block
	roles, codes, label ref.Val
}

var _ interpreter.Activation = (*activation)(nil)

func (a *activation) ResolveName(name string) (any, bool) {
	r := &a.req
	switch name {
	case "request.requester":
		return types.String(r.Requester), true
	case "request.org":
		return types.String(r.RequesterOrg), true
	case "request.roles":
		if a.roles == nil {
			a.roles = types.NewStringList(types.DefaultTypeAdapter, r.Roles)
		}
		return a.roles, true
	case "request.patient":
		return types.String(r.Patient), true
	case "request.action":
		return types.String(r.Action), true
	case "request.purpose":
		return types.String(r.Purpose), true
	case "request.break_glass":
		return types.Bool(r.BreakGlass), true
	case "record.id":
		return types.String(r.Record.ID), true
	case "record.type":
		return types.String(r.Record.Type), true
	case "record.codes":
		if a.codes == nil {
			a.codes = types.NewStringList(types.DefaultTypeAdapter, r.Record.Codes)
		}
		return a.codes, true
	case "record.labels":
		if a.label == nil {
			a.label = types.NewStringList(types.DefaultTypeAdapter, r.Record.Labels)
		}
		return a.label, true
	case "record.author_org":
		return types.String(r.Record.AuthorOrg), true
	case "record.date":
		// An unknown date is absent, so a condition on it errors and fails
		// closed rather than comparing against a made-up time.
		if r.Record.Date.IsZero() {
			return nil, false
		}
		return types.Timestamp{Time: r.Record.Date.UTC()}, true
	case "block.height":
		return types.Int(a.block.Height), true
	case "block.time":
		return types.Timestamp{Time: a.block.Time.UTC()}, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
