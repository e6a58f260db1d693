package audit

// Coding is a FHIR Coding: a code from a code system.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// Canonical URLs of the IHE Basic Audit Log Patterns (BALP) profiles the
// exporter claims.
const (
	balpBase                       = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
	ProfilePatientCreate           = balpBase + "PatientCreate"
	ProfilePatientRead             = balpBase + "PatientRead"
	ProfilePatientQuery            = balpBase + "PatientQuery"
	ProfilePatientUpdate           = balpBase + "PatientUpdate"
	ProfilePatientDelete           = balpBase + "PatientDelete"
	ProfilePrivacyDisclosureSource = balpBase + "PrivacyDisclosure.Source"
)

// Identifier systems for carechain's own ids, the same the consent module's
// FHIR converter uses. Ids on the ledger are pseudonymous; a gateway that
// knows more may rewrite them.
const (
	IdentifierSystemActor        = "urn:carechain:actor"
	IdentifierSystemOrganization = "urn:carechain:organization"
	IdentifierSystemRecord       = "urn:carechain:record"
	IdentifierSystemTransaction  = "urn:carechain:tx"
)

// Code systems.
const (
	systemDCM               = "http://dicom.nema.org/resources/ontology/DCM"
	systemAuditEventType    = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemRestful           = "http://hl7.org/fhir/restful-interaction"
	systemParticipationType = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	systemActReason         = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	systemEntityType        = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	systemObjectRole        = "http://terminology.hl7.org/CodeSystem/object-role"
	systemSourceType        = "http://terminology.hl7.org/CodeSystem/security-source-type"
	systemLifecycle         = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
	systemRoleClass         = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
	systemSecurityRole      = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	systemProvenanceRole    = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
	systemSNOMED            = "http://snomed.info/sct"
	systemResourceTypes     = "http://hl7.org/fhir/resource-types"
	systemBALPEntityType    = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
)

var (
	codingRESTOperation     = Coding{systemAuditEventType, "rest", "Restful Operation"}
	codingSecurityAlert     = Coding{systemDCM, "110113", "Security Alert"}
	codingEmergencyOverride = Coding{systemDCM, "110127", "Emergency Override Started"}
	codingRestrictedUse     = Coding{systemDCM, "110132", "Use of Restricted Function"}
	codingExport            = Coding{systemDCM, "110106", "Export"}
	codingDisclose          = Coding{systemLifecycle, "disclose", "Disclose Record Lifecycle Event"}

	codingAuthor    = Coding{systemParticipationType, "AUT", "author (originator)"}
	codingRecipient = Coding{systemParticipationType, "IRCP", "information recipient"}

	codingSourceRole      = Coding{systemDCM, "110153", "Source Role ID"}
	codingDestinationRole = Coding{systemDCM, "110152", "Destination Role ID"}
	codingApplication     = Coding{systemDCM, "110150", "Application"}
	codingCustodian       = Coding{systemProvenanceRole, "custodian", "Custodian"}
	codingAuthServer      = Coding{systemSecurityRole, "authserver", "authorization server"}
	codingProvider        = Coding{systemRoleClass, "PROV", "healthcare provider"}
	codingPatientAdvocate = Coding{systemSNOMED, "429577009", "Patient Advocate"}

	codingPerson        = Coding{systemEntityType, "1", "Person"}
	codingSystemObject  = Coding{systemEntityType, "2", "System Object"}
	codingRolePatient   = Coding{systemObjectRole, "1", "Patient"}
	codingRoleResource  = Coding{systemObjectRole, "4", "Domain Resource"}
	codingRoleQuery     = Coding{systemObjectRole, "24", "Query"}
	codingXRequestID    = Coding{systemBALPEntityType, "XrequestId", ""}
	codingAppServer     = Coding{systemSourceType, "4", "Application Server"}
	codingConsentEntity = Coding{systemResourceTypes, "Consent", "Consent"}
	codingBreakTheGlass = Coding{systemActReason, "BTG", "break the glass"}
)

// AuditEvent.outcome codes (FHIR R4 audit-event-outcome).
const (
	outcomeSuccess = "0"
	// BALP's consent-decision examples record a deny as a serious failure.
	outcomeDenied = "8"
)

func restful(code string) Coding { return Coding{systemRestful, code, code} }

// purposeDisplay names the HL7 v3 ActReason purpose-of-use codes carechain
// expects; other codes are exported without a display.
var purposeDisplay = map[string]string{
	"TREAT":     "treatment",
	"ETREAT":    "Emergency Treatment",
	"HPAYMT":    "healthcare payment",
	"HOPERAT":   "healthcare operations",
	"HRESCH":    "healthcare research",
	"PATRQT":    "patient requested",
	"BTG":       "break the glass",
	"PUBHLTH":   "public health",
	"FAMRQT":    "family requested",
	"PWATRNY":   "power of attorney",
	"HLEGAL":    "legal",
	"HSYSADMIN": "health system administration",
	"COVERAGE":  "coverage under policy or program",
	"CLINTRCH":  "clinical trial research",
}

func purposeCoding(code string) Coding {
	return Coding{systemActReason, code, purposeDisplay[code]}
}
