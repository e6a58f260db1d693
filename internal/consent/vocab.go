package consent

import "strings"

// Action is what a requester does with a record (FHIR consentaction codes).
type Action string

// The FHIR R4 consent actions.
const (
	ActionCollect  Action = "collect"
	ActionAccess   Action = "access"
	ActionUse      Action = "use"
	ActionDisclose Action = "disclose"
	ActionCorrect  Action = "correct"
)

// actionBits gives each action a bit so that compiled provisions test
// membership with one AND.
var actionBits = map[Action]uint8{
	ActionCollect: 1 << 0, ActionAccess: 1 << 1, ActionUse: 1 << 2,
	ActionDisclose: 1 << 3, ActionCorrect: 1 << 4,
}

// IsKnownAction reports whether a is one of the FHIR consent actions.
func IsKnownAction(a Action) bool { _, ok := actionBits[a]; return ok }

// Purpose is a purpose of use, an HL7 v3 ActReason code.
type Purpose string

// The purposes of use carechain understands.
const (
	PurposeTreatment          Purpose = "TREAT"
	PurposeEmergencyTreatment Purpose = "ETREAT"
	PurposePayment            Purpose = "HPAYMT"
	PurposeOperations         Purpose = "HOPERAT"
	PurposeResearch           Purpose = "HRESCH"
	PurposePatientRequest     Purpose = "PATRQT"
	PurposeBreakTheGlass      Purpose = "BTG"
)

var purposeBits = map[Purpose]uint16{
	PurposeTreatment: 1 << 0, PurposeEmergencyTreatment: 1 << 1, PurposePayment: 1 << 2,
	PurposeOperations: 1 << 3, PurposeResearch: 1 << 4, PurposePatientRequest: 1 << 5,
	PurposeBreakTheGlass: 1 << 6,
}

// IsKnownPurpose reports whether p is a purpose of use carechain understands.
func IsKnownPurpose(p Purpose) bool { _, ok := purposeBits[p]; return ok }

// Security label code systems. Confidentiality codes come from
// v3-Confidentiality; sensitivity and privacy-law codes from v3-ActCode.
const (
	SystemConfidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	SystemActCode         = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
)

// labelSensitive lists the security labels a consent may name, and whether
// each is sensitive. Confidentiality U, L, M and N are ordinary; everything
// else, including R and V, is released only by a permit that names it.
var labelSensitive = map[string]bool{
	// v3-Confidentiality
	"U": false, "L": false, "M": false, "N": false, "R": true, "V": true,
	// v3-ActCode information sensitivity policies
	"BH": true, "COGN": true, "DVD": true, "EMOTDIS": true, "ETH": true,
	"GDIS": true, "HIV": true, "MST": true, "PREGNANT": true, "PSY": true,
	"PSYTHPN": true, "SCA": true, "SDV": true, "SEX": true, "SICKLE": true,
	"SPI": true, "STD": true, "SUD": true, "TBOO": true,
	// v3-ActCode privacy law
	"42CFRPart2": true,
}

// IsKnownLabel reports whether a consent may name the security label.
func IsKnownLabel(label string) bool { _, ok := labelSensitive[label]; return ok }

// IsSensitiveLabel reports whether records carrying the label are withheld
// from permits that do not name it. Labels carechain does not know are
// sensitive: an unknown label fails closed.
func IsSensitiveLabel(label string) bool {
	sensitive, known := labelSensitive[label]
	return sensitive || !known
}

// labelSystem returns the FHIR code system of a known label.
func labelSystem(label string) string {
	switch label {
	case "U", "L", "M", "N", "R", "V":
		return SystemConfidentiality
	}
	return SystemActCode
}

// IsValidID reports whether s is a valid consent, patient, actor or record
// id: FHIR id syntax, 1–64 letters, digits, '-' and '.'. The ledger checks
// ids with it before building state keys from them.
func IsValidID(s string) bool { return isID(s) }

// IsValidRoleCode reports whether s is a valid role code: an id that may
// also contain '_'.
func IsValidRoleCode(s string) bool { return isRoleCode(s) }

// isID reports whether s is a valid id: FHIR id syntax, 1–64 characters of
// letters, digits, '-' and '.'. Ledger actor ids ("cc" and base32) fit.
func isID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isRoleCode reports whether s is a valid role code: like an id, with '_'
// also allowed.
func isRoleCode(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// isToken reports whether s is a code token "system|code": a system without
// '|' or whitespace and a code without leading, trailing or repeated spaces,
// printable ASCII, at most MaxTokenLen bytes in all.
func isToken(s string) bool {
	if len(s) > MaxTokenLen {
		return false
	}
	system, code, ok := strings.Cut(s, "|")
	if !ok || system == "" || code == "" {
		return false
	}
	for i := 0; i < len(system); i++ {
		if system[i] <= ' ' || system[i] > '~' {
			return false
		}
	}
	if code[0] == ' ' || code[len(code)-1] == ' ' || strings.Contains(code, "  ") {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < ' ' || code[i] > '~' || code[i] == '|' {
			return false
		}
	}
	return true
}
