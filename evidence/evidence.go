// Package evidence writes and checks evidence packs: a ZIP of what
// Linkdesk holds about an account or an end user (the webhooks Pinwheel
// sent with their signatures and times, the data snapshots, the launch
// links and their lifecycle, the staff actions touching it with their
// chain hashes, a timeline of all of it), with a manifest that lists each
// file's SHA-256, the audit chain's head at export and who exported it,
// signed with an Ed25519 key derived from the audit key. The handler
// streams a pack to the browser (bounded memory: each file is written
// through the ZIP as it is read, its hash computed on the way) and
// `linkdesk evidence verify` checks one offline. It is its own package
// because both sides of the format, the writer and the checker, belong
// together, and neither is a page or a Store use case.
package evidence

import (
	"archive/zip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"time"

	"linkdesk/db"
)

// Format names the pack's layout.
const Format = "linkdesk-evidence/1"

// Files of a pack, in the order they are written.
const (
	FileReadme       = "README.txt"
	FileTimeline     = "timeline.csv"
	FileWebhooks     = "webhooks.jsonl"
	FileTokens       = "tokens.jsonl"
	FileStaffActions = "staff_actions.jsonl"
	FileSnapshots    = "snapshots.jsonl"
	FileDecisions    = "decisions.jsonl"
	FileManifest     = "manifest.json"
	FileSignature    = "manifest.sig"
)

// Manifest describes a pack; manifest.sig is its Ed25519 signature.
type Manifest struct {
	Format    string    `json:"format"`
	Subject   Subject   `json:"subject"`
	EndUserID string    `json:"end_user_id,omitempty"`
	Accounts  []string  `json:"accounts"`
	Generated time.Time `json:"generated_at"`
	// ExportedBy is who built the pack.
	ExportedBy Person `json:"exported_by"`
	// ChainHead is the audit chain's head when the pack was built: the
	// pack's own audit row.
	ChainHead db.ChainHead `json:"chain_head"`
	// KeyedFrom is the first keyed row of the trail (staff actions before
	// it carry the unkeyed hash of the trail's first version).
	KeyedFrom int64 `json:"keyed_from"`
	// MaskedFor is the role whose masking policy the bodies follow.
	MaskedFor string    `json:"masked_for_role"`
	Signature Signature `json:"signature"`
	Files     []File    `json:"files"`
}

// Subject is what the pack is about.
type Subject struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Person is who exported the pack.
type Person struct {
	StaffID int64  `json:"staff_id"`
	Email   string `json:"email"`
	IP      string `json:"ip"`
}

// Signature says how manifest.sig is made.
type Signature struct {
	Algorithm string `json:"algorithm"`
	// PublicKey is the Ed25519 public key (hex) the signature checks
	// with; trust it only if it is the one /audit shows (or derives from
	// LINKDESK_AUDIT_KEY).
	PublicKey string `json:"public_key"`
	// AuditKeyID names the audit key it derives from.
	AuditKeyID string `json:"audit_key_id"`
}

// File is one file of the pack.
type File struct {
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Bytes   int64  `json:"bytes"`
	Records int64  `json:"records"`
}

// PublicKeyHex is the hex form of the Ed25519 public key that signs packs
// under keys' current audit key (what /audit shows), "" without one.
func PublicKeyHex(keys *db.AuditKeys) string {
	signer := keys.Signer()
	if signer == nil {
		return ""
	}
	return hex.EncodeToString(signer.Public().(ed25519.PublicKey))
}

// zipFile writes one file into the ZIP, counting its bytes and hashing it
// on the way.
type zipFile struct {
	w       io.Writer
	h       hash.Hash
	n       int64
	records int64
}

func (f *zipFile) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.h.Write(p[:n])
	f.n += int64(n)
	return n, err
}

// packWriter writes a pack's files and remembers them for the manifest.
type packWriter struct {
	zw       *zip.Writer
	modified time.Time
	files    []File
}

// file writes name with write and records it.
func (p *packWriter) file(name string, write func(f *zipFile) error) error {
	w, err := p.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: p.modified})
	if err != nil {
		return err
	}
	f := &zipFile{w: w, h: sha256.New()}
	if err := write(f); err != nil {
		return err
	}
	p.files = append(p.files, File{Name: name, SHA256: hex.EncodeToString(f.h.Sum(nil)), Bytes: f.n, Records: f.records})
	return nil
}

// jsonLines returns a function that writes v as one JSON line of f.
func jsonLines(f *zipFile) func(v any) error {
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	return func(v any) error {
		f.records++
		return enc.Encode(v)
	}
}

// signManifest marshals m and signs it.
func signManifest(m Manifest, signer ed25519.PrivateKey) ([]byte, []byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	b = append(b, '\n')
	sig := ed25519.Sign(signer, b)
	return b, []byte(hex.EncodeToString(sig) + "\n"), nil
}

// ErrNoSigner means the Store has no audit key to sign with.
var ErrNoSigner = fmt.Errorf("evidence: no audit key to sign the pack with")
