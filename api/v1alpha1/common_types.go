package v1alpha1

import "github.com/bss-budget-operator/bss-budget-operator/internal/money"

// Money is an amount of Chinese yuan written as a decimal string with at most
// two decimals, no sign, no exponent and no leading zeros, from 0 to
// 999999999999.99, e.g. "1250.50". It is held as integer fen inside the
// operator and never as a float.
//
// The CEL rule alone checks the value, so that a person gets one message that
// says what is accepted: a Pattern would add a regular expression to it, and a
// value longer than MaxLength gets only "Too long" (the API server skips the
// CEL rules then). MaxLength is still needed to bound the rule's cost, and is
// far above any amount a person types.
//
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]{0,11})([.][0-9]{1,2})?$')",message="must be yuan from 0 to 999999999999.99 with at most 2 decimals and no sign, exponent or leading zeros, e.g. 1250.50"
type Money string

// Amount is the value in fen. The CRDs validate the format on every write,
// so a value that does not parse cannot occur; it (and an empty one)
// counts as zero.
func (m Money) Amount() money.Amount {
	if m == "" {
		return money.Zero
	}
	a, err := money.Parse(string(m))
	if err != nil {
		return money.Zero
	}
	return a
}

// LocalObjectReference names an object of a known kind.
type LocalObjectReference struct {
	// Name of the referenced object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeyReference selects one key of a Secret in the operator's namespace.
type SecretKeyReference struct {
	// Name of the Secret. It must live in the operator's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key inside the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// CreditLedger is one credit line with its own expiry.
type CreditLedger struct {
	// Available is the amount that can be transferred or reclaimed now.
	Available Money `json:"available"`

	// CreditLine is the ledger's credit line, when BSS reports it.
	// +optional
	CreditLine Money `json:"creditLine,omitempty"`

	// ExpireTime is the ledger's expiry in UTC (yyyy-MM-ddTHH:mm:ssZ); empty
	// means the ledger never expires.
	// +kubebuilder:validation:MaxLength=20
	// +optional
	ExpireTime string `json:"expireTime,omitempty"`
}

// BalanceType says which account money moves from: cash (Debit) or credit.
// +kubebuilder:validation:Enum=Debit;Credit
type BalanceType string

const (
	// BalanceTypeDebit moves cash balance.
	BalanceTypeDebit BalanceType = "Debit"
	// BalanceTypeCredit moves credit line.
	BalanceTypeCredit BalanceType = "Credit"
)
