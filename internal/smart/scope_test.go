package smart

import (
	"errors"
	"testing"
)

func TestParseScope(t *testing.T) {
	all := PermCreate | PermRead | PermUpdate | PermDelete | PermSearch
	good := []struct {
		in    string
		typ   string
		perms Permission
		v2    string
	}{
		{"system/*.rs", "*", PermRead | PermSearch, "system/*.rs"},
		{"system/Observation.rs", "Observation", PermRead | PermSearch, "system/Observation.rs"},
		{"system/Patient.cruds", "Patient", all, "system/Patient.cruds"},
		{"system/Patient.c", "Patient", PermCreate, "system/Patient.c"},
		{"system/Patient.ud", "Patient", PermUpdate | PermDelete, "system/Patient.ud"},
		{"system/*.read", "*", PermRead | PermSearch, "system/*.rs"},
		{"system/Observation.write", "Observation", PermCreate | PermUpdate | PermDelete, "system/Observation.cud"},
		{"system/*.*", "*", all, "system/*.cruds"},
	}
	for _, c := range good {
		s, err := ParseScope(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if s.ResourceType != c.typ || s.Perms != c.perms || s.String() != c.v2 || s.Raw != c.in {
			t.Errorf("%s = %+v (%s)", c.in, s, s)
		}
	}
	bad := []string{
		"", "openid", "launch/patient", "patient/*.rs", "user/Observation.read", "system/Observation",
		"system/Observation.", "system/Observation.sr", "system/Observation.rr", "system/Observation.x",
		"system/observation.rs", "system/Obs-ervation.rs", "system/Observation.rs?category=laboratory",
		"system/.rs", "system/**.rs", "system/*.Read", "system//Observation.rs",
	}
	for _, in := range bad {
		if s, err := ParseScope(in); err == nil {
			t.Errorf("%q parsed as %+v", in, s)
		} else if e := (*Error)(nil); !errors.As(err, &e) || e.OAuth != "invalid_scope" || e.Reason != ReasonScopeInvalid {
			t.Errorf("%q: %v is not an invalid_scope refusal", in, err)
		}
	}
}

func TestParseScopesAndAllows(t *testing.T) {
	ss, err := ParseScopes("  system/Observation.rs system/Patient.read\tsystem/Observation.rs system/Consent.c ")
	if err != nil {
		t.Fatal(err)
	}
	if got := ss.String(); got != "system/Observation.rs system/Patient.read system/Consent.c" {
		t.Fatalf("scopes = %q", got)
	}
	allow := []struct {
		typ  string
		perm Permission
		want bool
	}{
		{"Observation", PermRead, true}, {"Observation", PermSearch, true}, {"Observation", PermCreate, false},
		{"Patient", PermSearch, true}, {"Patient", PermUpdate, false}, {"Consent", PermCreate, true},
		{"Consent", PermRead, false}, {"Encounter", PermRead, false},
	}
	for _, c := range allow {
		if got := ss.Allows(c.typ, c.perm); got != c.want {
			t.Errorf("Allows(%s, %s) = %v", c.typ, c.perm, got)
		}
	}
	star, _ := ParseScopes("system/*.rs")
	if !star.Allows("Encounter", PermRead) || star.Allows("Encounter", PermDelete) {
		t.Error("system/*.rs grants the wrong things")
	}
	for _, in := range []string{"", "   ", "system/*.rs openid", string(make([]byte, MaxScopeParam+1))} {
		if _, err := ParseScopes(in); err == nil {
			t.Errorf("ParseScopes(%.20q) succeeded", in)
		}
	}
	many := ""
	for i := range MaxScopes + 1 {
		many += "system/T" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".r "
	}
	if _, err := ParseScopes(many); err == nil {
		t.Error("too many scopes accepted")
	}
}

func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"system/*.rs", "system/Observation.cruds system/Patient.read", "patient/*.rs", "system/*.rs?x=1", "system/A.sc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ss, err := ParseScopes(in)
		if err != nil {
			return
		}
		// Whatever parses, parses again from its own string form, to the
		// same grants: the token's scope claim round-trips.
		again, err := ParseScopes(ss.String())
		if err != nil || len(again) != len(ss) {
			t.Fatalf("%q: re-parse of %q: %v", in, ss.String(), err)
		}
		for i := range ss {
			if ss[i].Perms == 0 || again[i].Perms != ss[i].Perms || again[i].ResourceType != ss[i].ResourceType {
				t.Fatalf("%q: %+v vs %+v", in, ss[i], again[i])
			}
			v2, err := ParseScope(ss[i].String())
			if err != nil || v2.Perms != ss[i].Perms {
				t.Fatalf("%q: v2 form %q: %v", in, ss[i].String(), err)
			}
		}
	})
}
