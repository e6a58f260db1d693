package consent

// FHIR systems and URIs the converter reads and writes.
const (
	SystemConsentScope      = "http://terminology.hl7.org/CodeSystem/consentscope"
	SystemConsentAction     = "http://terminology.hl7.org/CodeSystem/consentaction"
	SystemActReason         = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	SystemParticipationType = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	SystemResourceTypes     = "http://hl7.org/fhir/resource-types"
	SystemLOINC             = "http://loinc.org"

	// Identifier systems for ledger ids, shared with the audit module's
	// FHIR export.
	IdentifierSystemActor        = "urn:carechain:actor"
	IdentifierSystemOrganization = "urn:carechain:organization"
	IdentifierSystemRole         = "urn:carechain:role"
	IdentifierSystemRecord       = "urn:carechain:record"

	// ExtensionCondition carries a provision's CEL condition, as valueString.
	ExtensionCondition = "urn:carechain:fhir:consent-provision-condition"

	// MaxFHIRSize bounds the JSON FromFHIR reads.
	MaxFHIRSize = 1 << 20
)

// recipientRoles are the R4 actor roles (v3-ParticipationType) that name who
// receives data, which is what a carechain actor is.
var recipientRoles = map[string]bool{"PRCP": true, "IRCP": true}

// roleNames explains the roles a consent actor may not have.
var roleNames = map[string]string{
	"CST":       "custodian: it says where data is held",
	"AUT":       "author: it says who wrote the data",
	"INF":       "informant",
	"DELEGATEE": "delegatee",
	"SBJ":       "subject",
	"VRF":       "verifier",
	"WIT":       "witness",
}

// identityResourceTypes are the FHIR resources whose literal references
// name a ledger identity.
var identityResourceTypes = map[string]bool{
	"Practitioner": true, "Patient": true, "RelatedPerson": true, "Device": true,
}
