package audit

// The subset of the FHIR R4 AuditEvent resource the exporter writes. Field
// order is the order FHIR lists the elements in, so output is stable and
// reads like the specification.

type auditEvent struct {
	ResourceType   string            `json:"resourceType"`
	ID             string            `json:"id"`
	Meta           *meta             `json:"meta,omitempty"`
	Type           Coding            `json:"type"`
	Subtype        []Coding          `json:"subtype,omitempty"`
	Action         string            `json:"action,omitempty"`
	Recorded       string            `json:"recorded"`
	Outcome        string            `json:"outcome"`
	OutcomeDesc    string            `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []codeableConcept `json:"purposeOfEvent,omitempty"`
	Agent          []agent           `json:"agent"`
	Source         source            `json:"source"`
	Entity         []entity          `json:"entity"`
}

type meta struct {
	Profile []string `json:"profile"`
}

type codeableConcept struct {
	Coding []Coding `json:"coding"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type network struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

type agent struct {
	Type         *codeableConcept  `json:"type,omitempty"`
	Who          *reference        `json:"who,omitempty"`
	AltID        string            `json:"altId,omitempty"`
	Requestor    bool              `json:"requestor"`
	Network      *network          `json:"network,omitempty"`
	PurposeOfUse []codeableConcept `json:"purposeOfUse,omitempty"`
}

type source struct {
	Site     string    `json:"site,omitempty"`
	Observer reference `json:"observer"`
	Type     []Coding  `json:"type,omitempty"`
}

type detail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}

type entity struct {
	What        *reference `json:"what,omitempty"`
	Type        *Coding    `json:"type,omitempty"`
	Role        *Coding    `json:"role,omitempty"`
	Description string     `json:"description,omitempty"`
	Query       string     `json:"query,omitempty"`
	Detail      []detail   `json:"detail,omitempty"`
}
