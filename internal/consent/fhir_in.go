package consent

import (
	"encoding/json"
	"strings"
	"time"
)

// FromFHIR converts a FHIR R4 Consent resource (JSON) into a Consent, or
// refuses it with an *Error saying exactly which element carechain cannot
// enforce and why. Informational elements (narrative, meta, identifiers,
// category, custodian organization, source document, verification) are
// accepted and not kept; elements that would change who may see what and
// that carechain cannot evaluate are refused rather than dropped. The
// result is normalized and has passed Validate. docs/consent.md lists the
// mapping.
func FromFHIR(data []byte) (Consent, error) {
	if len(data) > MaxFHIRSize {
		return Consent{}, errorf(CodeTooLarge, "", "resource is %d bytes, at most %d", len(data), MaxFHIRSize)
	}
	var whole json.RawMessage
	if err := json.Unmarshal(data, &whole); err != nil {
		return Consent{}, errorf(CodeFHIRSyntax, "", "not JSON: %v", err)
	}
	root, err := parseObject(data, "")
	if err != nil {
		return Consent{}, err
	}
	c, err := consentFromFHIR(root)
	if err != nil {
		return Consent{}, err
	}
	c = Normalize(c)
	if err := Validate(c); err != nil {
		return Consent{}, err
	}
	return c, nil
}

func consentFromFHIR(o *jsonObject) (Consent, error) {
	var c Consent
	rt, _, err := o.str("resourceType")
	if err != nil {
		return c, err
	}
	if rt != "Consent" {
		return c, errorf(CodeFHIRSyntax, "resourceType", "resource type %q, want Consent", rt)
	}
	for _, r := range []struct{ key, why string }{
		{"implicitRules", "implicit rules may change the meaning of the consent in ways carechain cannot evaluate"},
		{"modifierExtension", "modifier extensions change the meaning of the consent in ways carechain cannot evaluate"},
		{"contained", "contained resources are not supported: refer to ledger identities and records instead"},
		{"policy", "external policies cannot be evaluated on the ledger: state the rules as provisions"},
	} {
		if err := o.refuse(r.key, r.why); err != nil {
			return c, err
		}
	}
	o.ignore("meta", "language", "text", "extension", "identifier", "category",
		"organization", "sourceAttachment", "sourceReference", "verification")

	id, ok, err := o.str("id")
	if err != nil {
		return c, err
	}
	if !ok {
		return c, errorf(CodeBadID, "id", "the consent needs an id")
	}
	c.ID = id

	status, ok, err := o.str("status")
	if err != nil {
		return c, err
	}
	if !ok {
		return c, errorf(CodeFHIRInvalid, "status", "status is required")
	}
	if c.Status, ok = ParseStatus(status); !ok {
		return c, errorf(CodeBadStatus, "status", "status %q is not a FHIR consent state", status)
	}

	if scope, err := o.obj("scope"); err != nil {
		return c, err
	} else if scope != nil {
		codings, err := codeableConcept(scope)
		if err != nil {
			return c, err
		}
		if !hasCoding(codings, SystemConsentScope, "patient-privacy") {
			return c, errorf(CodeFHIRUnsupported, "scope",
				"scope %s: carechain consents are privacy consents (consentscope#patient-privacy)", codingList(codings))
		}
	}

	patient, err := o.obj("patient")
	if err != nil {
		return c, err
	}
	if patient == nil {
		return c, errorf(CodeFHIRUnsupported, "patient", "a consent must name its patient")
	}
	if c.Patient, err = patientRef(patient); err != nil {
		return c, err
	}

	if s, ok, err := o.str("dateTime"); err != nil {
		return c, err
	} else if ok {
		if c.DateTime, err = parseDateTime(s, false, "dateTime"); err != nil {
			return c, err
		}
	}

	c.Grantor = c.Patient
	performers, err := o.arr("performer")
	if err != nil {
		return c, err
	}
	if len(performers) > 1 {
		return c, errorf(CodeFHIRUnsupported, "performer", "%d performers: a carechain consent has one grantor, who signs it", len(performers))
	}
	if len(performers) == 1 {
		if c.Grantor, err = grantorRef(performers[0], c.Patient); err != nil {
			return c, err
		}
	}

	// policyRule (OPTIN, OPTOUT) is read as information only: the root
	// provision must state its type. Inferring it from policyRule turns
	// several R4 examples into the opposite of what their narratives say.
	o.ignore("policyRule")

	prov, err := o.obj("provision")
	if err != nil {
		return c, err
	}
	if prov == nil {
		return c, errorf(CodeFHIRUnsupported, "provision", "a consent without a provision grants and denies nothing carechain can enforce")
	}
	if err := o.done(); err != nil {
		return c, err
	}
	count := 0
	if c.Provision, err = provisionFromFHIR(prov, 1, &count); err != nil {
		return c, err
	}
	if c.Provision.Type == 0 {
		return c, errorf(CodeFHIRUnsupported, "provision.type",
			"the root provision has no type: carechain does not infer permit or deny from policyRule; state it")
	}
	return c, nil
}

// provisionFromFHIR converts one provision and its exceptions.
func provisionFromFHIR(o *jsonObject, depth int, count *int) (Provision, error) {
	var p Provision
	*count++
	if depth > MaxDepth {
		return p, errorf(CodeTooDeep, o.path, "provisions nest more than %d deep", MaxDepth)
	}
	if *count > MaxProvisions {
		return p, errorf(CodeTooManyProvisions, o.path, "more than %d provisions", MaxProvisions)
	}
	if err := o.refuse("modifierExtension", "modifier extensions change the meaning of the provision in ways carechain cannot evaluate"); err != nil {
		return p, err
	}
	o.ignore("id")

	exts, err := o.arr("extension")
	if err != nil {
		return p, err
	}
	for _, e := range exts {
		url, _, err := e.str("url")
		if err != nil {
			return p, err
		}
		if url != ExtensionCondition {
			continue // FHIR lets readers ignore extensions they do not know
		}
		if p.Condition != "" {
			return p, errorf(CodeFHIRInvalid, e.path, "more than one condition extension")
		}
		v, ok, err := e.str("valueString")
		if err != nil {
			return p, err
		}
		if !ok {
			return p, errorf(CodeFHIRInvalid, e.path, "the condition extension needs a valueString")
		}
		e.ignore("id")
		if err := e.done(); err != nil {
			return p, err
		}
		p.Condition = v
	}

	typ, ok, err := o.str("type")
	if err != nil {
		return p, err
	}
	switch {
	case typ == "permit":
		p.Type = Permit
	case typ == "deny":
		p.Type = Deny
	case ok:
		return p, errorf(CodeFHIRInvalid, o.sub("type"), "type %q is neither permit nor deny", typ)
	case depth == 1:
		// Reported by consentFromFHIR once the rest has converted, so that
		// a more specific problem elsewhere is named first.
	default:
		return p, errorf(CodeFHIRUnsupported, o.sub("type"),
			"a nested provision needs a type (permit or deny): carechain will not guess which exception is meant")
	}

	if p.Period, err = periodFromFHIR(o, "period"); err != nil {
		return p, err
	}
	if p.DataPeriod, err = periodFromFHIR(o, "dataPeriod"); err != nil {
		return p, err
	}

	actors, err := o.arr("actor")
	if err != nil {
		return p, err
	}
	for _, a := range actors {
		actor, err := actorFromFHIR(a)
		if err != nil {
			return p, err
		}
		p.Actors = append(p.Actors, actor)
	}

	actions, err := o.arr("action")
	if err != nil {
		return p, err
	}
	for _, a := range actions {
		codings, err := codeableConcept(a)
		if err != nil {
			return p, err
		}
		code, err := onlyCode(codings, SystemConsentAction, a.path, "action")
		if err != nil {
			return p, err
		}
		p.Actions = append(p.Actions, Action(code))
	}

	labels, err := o.arr("securityLabel")
	if err != nil {
		return p, err
	}
	for _, l := range labels {
		cd, err := coding(l)
		if err != nil {
			return p, err
		}
		if !IsKnownLabel(cd.code) || labelSystem(cd.code) != cd.system {
			return p, errorf(CodeUnknownLabel, l.path, "security label %s|%s is not one carechain knows", cd.system, cd.code)
		}
		p.Labels = append(p.Labels, cd.code)
	}

	purposes, err := o.arr("purpose")
	if err != nil {
		return p, err
	}
	for _, pu := range purposes {
		cd, err := coding(pu)
		if err != nil {
			return p, err
		}
		if cd.system != SystemActReason {
			return p, errorf(CodeFHIRUnsupported, pu.path, "purpose system %s: purposes are v3-ActReason codes", cd.system)
		}
		p.Purposes = append(p.Purposes, Purpose(cd.code))
	}

	classes, err := o.arr("class")
	if err != nil {
		return p, err
	}
	for _, cl := range classes {
		cd, err := coding(cl)
		if err != nil {
			return p, err
		}
		if cd.system != SystemResourceTypes {
			return p, errorf(CodeFHIRUnsupported, cl.path,
				"class system %s: carechain classes are FHIR resource types (%s)", cd.system, SystemResourceTypes)
		}
		p.Classes = append(p.Classes, cd.code)
	}

	codes, err := o.arr("code")
	if err != nil {
		return p, err
	}
	for _, cc := range codes {
		codings, err := codeableConcept(cc)
		if err != nil {
			return p, err
		}
		for _, cd := range codings {
			p.Codes = append(p.Codes, cd.system+"|"+cd.code)
		}
	}

	data, err := o.arr("data")
	if err != nil {
		return p, err
	}
	for _, d := range data {
		id, err := dataFromFHIR(d)
		if err != nil {
			return p, err
		}
		p.Records = append(p.Records, id)
	}

	kids, err := o.arr("provision")
	if err != nil {
		return p, err
	}
	if err := o.done(); err != nil {
		return p, err
	}
	for _, k := range kids {
		kid, err := provisionFromFHIR(k, depth+1, count)
		if err != nil {
			return p, err
		}
		p.Provisions = append(p.Provisions, kid)
	}
	return p, nil
}

func periodFromFHIR(o *jsonObject, key string) (Period, error) {
	var p Period
	po, err := o.obj(key)
	if err != nil || po == nil {
		return p, err
	}
	po.ignore("id", "extension")
	if s, ok, err := po.str("start"); err != nil {
		return p, err
	} else if ok {
		if p.Start, err = parseDateTime(s, false, po.sub("start")); err != nil {
			return p, err
		}
	}
	if s, ok, err := po.str("end"); err != nil {
		return p, err
	} else if ok {
		if p.End, err = parseDateTime(s, true, po.sub("end")); err != nil {
			return p, err
		}
	}
	return p, po.done()
}

// parseDateTime reads a FHIR dateTime. A partial date ("2016", "2016-05",
// "2016-05-11") has no zone and is read in UTC; as a start it means the
// first instant of that year, month or day, as an end the last, since FHIR
// period ends include the whole of their precision.
func parseDateTime(s string, end bool, path string) (time.Time, error) {
	var layout string
	var next func(time.Time) time.Time
	switch len(s) {
	case 4:
		layout, next = "2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }
	case 7:
		layout, next = "2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	case 10:
		layout, next = "2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
	default:
		if !strings.Contains(s, "T") {
			return time.Time{}, errorf(CodeFHIRInvalid, path, "%q is not a FHIR dateTime", s)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, errorf(CodeFHIRInvalid, path, "%q is not a FHIR dateTime with a time zone: %v", s, err)
		}
		if err := checkTime(t, path); err != nil {
			return time.Time{}, err
		}
		return normTime(t), nil
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, errorf(CodeFHIRInvalid, path, "%q is not a FHIR date: %v", s, err)
	}
	if t.Year() < 1 {
		return time.Time{}, errorf(CodeBadPeriod, path, "%q is outside years 1-9999", s)
	}
	if end {
		t = next(t).Add(-time.Nanosecond)
	}
	return normTime(t), nil
}

type fhirCoding struct{ system, code string }

func coding(o *jsonObject) (fhirCoding, error) {
	o.ignore("id", "extension", "version", "display", "userSelected")
	system, ok, err := o.str("system")
	if err != nil {
		return fhirCoding{}, err
	}
	if !ok {
		return fhirCoding{}, errorf(CodeFHIRUnsupported, o.sub("system"), "a coding without a system cannot be matched")
	}
	code, ok, err := o.str("code")
	if err != nil {
		return fhirCoding{}, err
	}
	if !ok {
		return fhirCoding{}, errorf(CodeFHIRUnsupported, o.sub("code"), "a coding without a code cannot be matched")
	}
	return fhirCoding{system: system, code: code}, o.done()
}

func codeableConcept(o *jsonObject) ([]fhirCoding, error) {
	o.ignore("id", "extension", "text")
	items, err := o.arr("coding")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errorf(CodeFHIRUnsupported, o.path, "a concept given only as text cannot be matched")
	}
	out := make([]fhirCoding, 0, len(items))
	for _, it := range items {
		cd, err := coding(it)
		if err != nil {
			return nil, err
		}
		out = append(out, cd)
	}
	return out, o.done()
}

func hasCoding(codings []fhirCoding, system, code string) bool {
	for _, c := range codings {
		if c.system == system && c.code == code {
			return true
		}
	}
	return false
}

func codingList(codings []fhirCoding) string {
	parts := make([]string, len(codings))
	for i, c := range codings {
		parts[i] = c.system + "|" + c.code
	}
	return strings.Join(parts, ", ")
}

// onlyCode returns the one code of a concept in system, refusing concepts
// with none or with two that disagree.
func onlyCode(codings []fhirCoding, system, path, what string) (string, error) {
	code := ""
	for _, c := range codings {
		if c.system != system {
			continue
		}
		if code != "" && c.code != code {
			return "", errorf(CodeFHIRUnsupported, path, "%s has two codes, %s and %s", what, code, c.code)
		}
		code = c.code
	}
	if code == "" {
		return "", errorf(CodeFHIRUnsupported, path, "%s %s is not in %s", what, codingList(codings), system)
	}
	return code, nil
}

// reference is a FHIR Reference: a literal "Type/id", or an identifier.
type reference struct {
	resourceType, id   string // literal
	system, identifier string // logical
}

func referenceFromFHIR(o *jsonObject) (reference, error) {
	o.ignore("id", "extension", "display", "type")
	var r reference
	lit, hasLit, err := o.str("reference")
	if err != nil {
		return r, err
	}
	ident, err := o.obj("identifier")
	if err != nil {
		return r, err
	}
	switch {
	case hasLit:
		typ, id, ok := strings.Cut(lit, "/")
		if !ok || strings.Contains(id, "/") || !IsResourceType(typ) {
			return r, errorf(CodeFHIRUnsupported, o.sub("reference"),
				"reference %q: only relative references \"Type/id\" are supported, not URLs or contained resources", lit)
		}
		r.resourceType, r.id = typ, id
	case ident != nil:
		ident.ignore("id", "extension", "use", "type", "period", "assigner")
		if r.system, _, err = ident.str("system"); err != nil {
			return r, err
		}
		if r.identifier, _, err = ident.str("value"); err != nil {
			return r, err
		}
		if err := ident.done(); err != nil {
			return r, err
		}
		if r.system == "" || r.identifier == "" {
			return r, errorf(CodeFHIRUnsupported, o.sub("identifier"), "an identifier needs a system and a value")
		}
	default:
		return r, errorf(CodeFHIRUnsupported, o.path, "a reference needs a literal reference or an identifier")
	}
	return r, o.done()
}

func (r reference) String() string {
	if r.resourceType != "" {
		return r.resourceType + "/" + r.id
	}
	return r.system + "|" + r.identifier
}

func patientRef(o *jsonObject) (string, error) {
	r, err := referenceFromFHIR(o)
	if err != nil {
		return "", err
	}
	switch {
	case r.resourceType == "Patient":
		return r.id, nil
	case r.system == IdentifierSystemActor:
		return r.identifier, nil
	}
	return "", errorf(CodeFHIRUnsupported, o.path, "patient %s is not a Patient reference", r)
}

func grantorRef(o *jsonObject, patient string) (string, error) {
	r, err := referenceFromFHIR(o)
	if err != nil {
		return "", err
	}
	switch {
	case r.resourceType == "Patient" || r.resourceType == "RelatedPerson":
		return r.id, nil
	case r.system == IdentifierSystemActor:
		return r.identifier, nil
	}
	return "", errorf(CodeFHIRUnsupported, o.path,
		"performer %s cannot grant: only the patient (%s) or a delegate signs a consent", r, patient)
}

func actorFromFHIR(o *jsonObject) (Actor, error) {
	o.ignore("id", "extension")
	if err := o.refuse("modifierExtension", "modifier extensions change the meaning of the actor"); err != nil {
		return Actor{}, err
	}
	role, err := o.obj("role")
	if err != nil {
		return Actor{}, err
	}
	if role == nil {
		return Actor{}, errorf(CodeFHIRInvalid, o.sub("role"), "an actor needs a role")
	}
	codings, err := codeableConcept(role)
	if err != nil {
		return Actor{}, err
	}
	recipient := false
	for _, c := range codings {
		if c.system == SystemParticipationType && recipientRoles[c.code] {
			recipient = true
		}
	}
	if !recipient {
		what := codingList(codings)
		for _, c := range codings {
			if n, ok := roleNames[c.code]; ok && c.system == SystemParticipationType {
				what = c.code + " (" + n + ")"
			}
		}
		return Actor{}, errorf(CodeFHIRUnsupported, role.path,
			"actor role %s is not a recipient role: carechain actors are who receives data (PRCP, IRCP)", what)
	}
	ref, err := o.obj("reference")
	if err != nil {
		return Actor{}, err
	}
	if ref == nil {
		return Actor{}, errorf(CodeFHIRInvalid, o.sub("reference"), "an actor needs a reference")
	}
	r, err := referenceFromFHIR(ref)
	if err != nil {
		return Actor{}, err
	}
	if err := o.done(); err != nil {
		return Actor{}, err
	}
	switch {
	case r.resourceType == "Organization":
		return Organization(r.id), nil
	case identityResourceTypes[r.resourceType]:
		return Identity(r.id), nil
	case r.system == IdentifierSystemActor:
		return Identity(r.identifier), nil
	case r.system == IdentifierSystemOrganization:
		return Organization(r.identifier), nil
	case r.system == IdentifierSystemRole:
		return Role(r.identifier), nil
	}
	return Actor{}, errorf(CodeFHIRUnsupported, ref.path,
		"actor %s: carechain names identities (Practitioner, Patient, RelatedPerson, Device), organizations, or roles (%s)",
		r, IdentifierSystemRole)
}

func dataFromFHIR(o *jsonObject) (string, error) {
	o.ignore("id", "extension")
	meaning, _, err := o.str("meaning")
	if err != nil {
		return "", err
	}
	if meaning != "instance" {
		return "", errorf(CodeFHIRUnsupported, o.sub("meaning"),
			"data meaning %q: carechain matches record ids only (instance); it cannot follow related, dependent or authored-by links on the ledger", meaning)
	}
	ro, err := o.obj("reference")
	if err != nil {
		return "", err
	}
	if ro == nil {
		return "", errorf(CodeFHIRInvalid, o.sub("reference"), "data needs a reference")
	}
	r, err := referenceFromFHIR(ro)
	if err != nil {
		return "", err
	}
	if err := o.done(); err != nil {
		return "", err
	}
	switch {
	case r.resourceType != "":
		return r.id, nil
	case r.system == IdentifierSystemRecord:
		return r.identifier, nil
	}
	return "", errorf(CodeFHIRUnsupported, ro.path, "data %s is not a record reference", r)
}
