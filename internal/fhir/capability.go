package fhir

import (
	"slices"
	"time"
)

// CapabilityStatement is the FHIR R4 resource, as much of it as carechain
// fills in.
type CapabilityStatement struct {
	ResourceType   string          `json:"resourceType"`
	Status         string          `json:"status"`
	Date           string          `json:"date"`
	Publisher      string          `json:"publisher,omitempty"`
	Kind           string          `json:"kind"`
	Software       *Software       `json:"software,omitempty"`
	Implementation *Implementation `json:"implementation,omitempty"`
	FHIRVersion    string          `json:"fhirVersion"`
	Format         []string        `json:"format"`
	Rest           []Rest          `json:"rest"`
}

// Software names the server software.
type Software struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Implementation describes this instance.
type Implementation struct {
	Description string `json:"description"`
	URL         string `json:"url,omitempty"`
}

// Rest is CapabilityStatement.rest.
type Rest struct {
	Mode        string          `json:"mode"`
	Security    *Security       `json:"security,omitempty"`
	Resource    []RestResource  `json:"resource,omitempty"`
	Interaction []Interactions  `json:"interaction,omitempty"`
	Operation   []RestOperation `json:"operation,omitempty"`
}

// Security is CapabilityStatement.rest.security.
type Security struct {
	Extension   []Extension       `json:"extension,omitempty"`
	CORS        bool              `json:"cors"`
	Service     []CodeableConcept `json:"service,omitempty"`
	Description string            `json:"description,omitempty"`
}

// Extension is a FHIR extension with a nested or a URI value.
type Extension struct {
	URL       string      `json:"url"`
	Extension []Extension `json:"extension,omitempty"`
	ValueURI  string      `json:"valueUri,omitempty"`
}

// RestResource is CapabilityStatement.rest.resource.
type RestResource struct {
	Type        string          `json:"type"`
	Interaction []Interactions  `json:"interaction,omitempty"`
	SearchParam []SearchParam   `json:"searchParam,omitempty"`
	Operation   []RestOperation `json:"operation,omitempty"`
}

// Interactions is one supported interaction code.
type Interactions struct {
	Code Interaction `json:"code"`
}

// RestOperation is a supported operation.
type RestOperation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

// SMART's registry of extension URLs.
const (
	extOAuthURIs   = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
	securityCSURL  = "http://terminology.hl7.org/CodeSystem/restful-security-service"
	operationsBase = "http://hl7.org/fhir/OperationDefinition/"
)

// interactionOrder is the order interactions are listed in.
var interactionOrder = []Interaction{Read, VRead, Update, Patch, Delete, HistoryInstance, HistoryType, Create, SearchType}

// CapabilityStatement describes what the server does now: the SMART
// security service, and each registered interaction, search parameter and
// operation. Nothing unregistered is listed.
func (s *Server) CapabilityStatement() CapabilityStatement {
	rest := Rest{Mode: "server", Security: &Security{
		Extension: []Extension{{URL: extOAuthURIs, Extension: []Extension{{URL: "token", ValueURI: s.cfg.TokenURL}}}},
		Service:   []CodeableConcept{{Coding: []Coding{{System: securityCSURL, Code: "SMART-on-FHIR"}}, Text: "SMART Backend Services"}},
		Description: "SMART Backend Services: client_credentials with a private_key_jwt assertion signed (EdDSA) by the client's ledger key; " +
			"system scopes; tokens of at most five minutes. Discovery at /.well-known/smart-configuration.",
	}}
	s.mu.RLock()
	for _, typ := range s.sortedTypesLocked() {
		res := RestResource{Type: typ, SearchParam: slices.Clone(s.search[typ])}
		for _, in := range interactionOrder {
			if _, ok := s.handlers[handlerKey{interaction: in, typ: typ}]; ok {
				res.Interaction = append(res.Interaction, Interactions{Code: in})
			}
		}
		res.Operation = s.operationsLocked(typ)
		rest.Resource = append(rest.Resource, res)
	}
	for _, in := range []Interaction{Transaction, Batch, HistorySystem, SearchSystem} {
		if _, ok := s.handlers[handlerKey{interaction: in}]; ok {
			rest.Interaction = append(rest.Interaction, Interactions{Code: in})
		}
	}
	rest.Operation = s.operationsLocked("")
	s.mu.RUnlock()
	version := s.cfg.Version
	if version == "" {
		version = "dev"
	}
	return CapabilityStatement{
		ResourceType: "CapabilityStatement", Status: "active", Date: s.cfg.Started.UTC().Format(time.RFC3339),
		Publisher: "carechain", Kind: "instance", Software: &Software{Name: "carechain", Version: version},
		Implementation: &Implementation{Description: "carechain node FHIR API", URL: s.cfg.BaseURL},
		FHIRVersion:    "4.0.1", Format: []string{"application/fhir+json", "json"}, Rest: []Rest{rest},
	}
}

func (s *Server) sortedTypesLocked() []string {
	var types []string
	for k := range s.handlers {
		if k.typ != "" && !slices.Contains(types, k.typ) {
			types = append(types, k.typ)
		}
	}
	slices.Sort(types)
	return types
}

func (s *Server) operationsLocked(typ string) []RestOperation {
	var names []string
	for k := range s.handlers {
		if k.interaction == Operation && k.typ == typ && !slices.Contains(names, k.operation) {
			names = append(names, k.operation)
		}
	}
	slices.Sort(names)
	var out []RestOperation
	for _, n := range names {
		def := operationsBase + n
		if typ != "" {
			def = operationsBase + typ + "-" + n
		}
		out = append(out, RestOperation{Name: n, Definition: def})
	}
	return out
}
