package db

import (
	"encoding/json"
	"fmt"

	"linkdesk/pinwheel"
)

// SnapshotData is a snapshot's body decoded into Pinwheel's wire types:
// the one typed reading of every snapshot kind, shared by pages and
// exports. The field of the snapshot's kind is set; the others are nil.
type SnapshotData struct {
	Identity    *pinwheel.Identity
	Employment  *pinwheel.Employment
	Income      *pinwheel.Income
	Allocations *pinwheel.DDAllocations
}

// DecodeSnapshot reads a snapshot body of kind (one of the Fetch*
// constants). A body wrapped in an API envelope ({"data": …}) is read from
// inside it. A body that does not decode leaves the data empty and returns
// the error.
func DecodeSnapshot(kind string, body []byte) (SnapshotData, error) {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Data) > 0 && env.Data[0] == '{' {
		body = env.Data
	}
	var d SnapshotData
	var v any
	switch kind {
	case FetchIdentity:
		d.Identity = new(pinwheel.Identity)
		v = d.Identity
	case FetchEmployment:
		d.Employment = new(pinwheel.Employment)
		v = d.Employment
	case FetchIncome:
		d.Income = new(pinwheel.Income)
		v = d.Income
	case FetchDDAllocations:
		d.Allocations = new(pinwheel.DDAllocations)
		v = d.Allocations
	default:
		return SnapshotData{}, fmt.Errorf("db: unknown snapshot kind %q", kind)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return SnapshotData{}, fmt.Errorf("db: %s snapshot: %w", kind, err)
	}
	return d, nil
}

// identityOf reads the fields the identity check compares from an
// identity snapshot body; ok is false when it does not decode.
func identityOf(body []byte) (id IdentityData, ok bool) {
	d, err := DecodeSnapshot(FetchIdentity, body)
	if err != nil {
		return IdentityData{}, false
	}
	v := d.Identity
	id = IdentityData{FullName: v.FullName}
	if v.DateOfBirth != nil {
		id.DateOfBirth = *v.DateOfBirth
	}
	if v.LastFourSSN != nil {
		id.LastFourSSN = *v.LastFourSSN
	}
	return id, true
}
