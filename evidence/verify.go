package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"linkdesk/db"
)

// Trust is what a check of a pack trusts: public keys (hex, from /audit)
// and audit keys (LINKDESK_AUDIT_KEY, which also check staff actions'
// chain hashes). A pack signed by any other key fails.
type Trust struct {
	PublicKeys []string
	Keys       *db.AuditKeys
}

// Report is what a successful check found.
type Report struct {
	Manifest Manifest
	// StaffActionsChecked counts staff actions whose chain hash was
	// checked with an audit key (0 without one).
	StaffActionsChecked int64
}

// Problem is why a pack fails: the file at fault (or "" for the pack as
// a whole) and what is wrong.
type Problem struct {
	File   string
	Reason string
}

func (p *Problem) Error() string {
	if p.File == "" {
		return "evidence pack: " + p.Reason
	}
	return "evidence pack: " + p.File + ": " + p.Reason
}

// maxManifest bounds the manifest read (a hostile pack costs no more).
const maxManifest = 4 << 20

// Verify checks the pack in r (size bytes): the manifest's signature
// under a trusted key, then every file against the manifest (present,
// same size, same SHA-256, nothing extra), then, with an audit key, every
// staff action's chain hash. The error is a *Problem naming the file.
func Verify(r io.ReaderAt, size int64, trust Trust) (Report, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return Report{}, &Problem{"", "not a ZIP file: " + err.Error()}
	}
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			return Report{}, &Problem{f.Name, "the file appears twice in the ZIP"}
		}
		files[f.Name] = f
	}
	manifestRaw, err := readAll(files, FileManifest, maxManifest)
	if err != nil {
		return Report{}, err
	}
	sigRaw, err := readAll(files, FileSignature, 1024)
	if err != nil {
		return Report{}, err
	}
	var m Manifest
	if err := json.Unmarshal(manifestRaw, &m); err != nil || m.Format != Format {
		return Report{}, &Problem{FileManifest, "not a Linkdesk evidence manifest"}
	}
	pub, err := hex.DecodeString(m.Signature.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return Report{}, &Problem{FileManifest, "the signature's public key is not an Ed25519 key"}
	}
	sig, err := hex.DecodeString(string(bytes.TrimSpace(sigRaw)))
	if err != nil || !ed25519.Verify(pub, manifestRaw, sig) {
		return Report{}, &Problem{FileSignature, "the signature does not match manifest.json: the manifest was changed"}
	}
	if !trusted(pub, trust) {
		if len(trust.PublicKeys) == 0 && (trust.Keys == nil || trust.Keys.Current == "" && len(trust.Keys.PublicKeys()) == 0) {
			return Report{}, &Problem{"", "no key to trust: give --public-key (shown on /audit) or LINKDESK_AUDIT_KEY"}
		}
		return Report{}, &Problem{FileSignature, "signed with public key " + m.Signature.PublicKey + ", which is not the trusted one"}
	}
	listed := map[string]bool{FileManifest: true, FileSignature: true}
	for _, mf := range m.Files {
		listed[mf.Name] = true
		f, ok := files[mf.Name]
		if !ok {
			return Report{}, &Problem{mf.Name, "listed in the manifest but missing from the pack"}
		}
		sum, n, err := hashFile(f)
		if err != nil {
			return Report{}, &Problem{mf.Name, "cannot be read: " + err.Error()}
		}
		if n != mf.Bytes || sum != mf.SHA256 {
			return Report{}, &Problem{mf.Name, fmt.Sprintf("its content differs from the manifest (SHA-256 %s, %d bytes; the manifest says %s, %d bytes)", sum, n, mf.SHA256, mf.Bytes)}
		}
	}
	var names []string
	for name := range files {
		if !listed[name] {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) > 0 {
		return Report{}, &Problem{names[0], "in the pack but not in the manifest: it was added"}
	}
	rep := Report{Manifest: m}
	if trust.Keys != nil && len(trust.Keys.PublicKeys()) > 0 {
		if rep.StaffActionsChecked, err = checkStaffActions(files[FileStaffActions], trust.Keys, m); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// trusted reports whether pub is one of the trusted keys.
func trusted(pub ed25519.PublicKey, t Trust) bool {
	for _, h := range t.PublicKeys {
		if k, err := hex.DecodeString(h); err == nil && bytes.Equal(k, pub) {
			return true
		}
	}
	if t.Keys != nil {
		for _, k := range t.Keys.PublicKeys() {
			if bytes.Equal(k, pub) {
				return true
			}
		}
	}
	return false
}

func readAll(files map[string]*zip.File, name string, limit int64) ([]byte, error) {
	f, ok := files[name]
	if !ok {
		return nil, &Problem{name, "missing from the pack"}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, &Problem{name, "cannot be read: " + err.Error()}
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, &Problem{name, "cannot be read: " + err.Error()}
	}
	if int64(len(b)) > limit {
		return nil, &Problem{name, "too large"}
	}
	return b, nil
}

// hashFile returns a file's SHA-256 (hex) and size, read as a stream.
func hashFile(f *zip.File) (string, int64, error) {
	rc, err := f.Open()
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// checkStaffActions checks each staff action's own chain hash with the
// audit keys.
func checkStaffActions(f *zip.File, keys *db.AuditKeys, m Manifest) (int64, error) {
	if f == nil {
		return 0, nil
	}
	rc, err := f.Open()
	if err != nil {
		return 0, &Problem{FileStaffActions, "cannot be read: " + err.Error()}
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var n int64
	for line := 1; sc.Scan(); line++ {
		var r db.AuditExportRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return n, &Problem{FileStaffActions, fmt.Sprintf("line %d is not an audit row", line)}
		}
		if r.Sequence > m.ChainHead.Seq {
			return n, &Problem{FileStaffActions, fmt.Sprintf("line %d: row %d is newer than the pack's chain head", line, r.Sequence)}
		}
		if why := db.VerifyAuditRow(keys, r, m.KeyedFrom); why != "" {
			return n, &Problem{FileStaffActions, fmt.Sprintf("line %d (audit row %d): %s", line, r.Sequence, why)}
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, &Problem{FileStaffActions, err.Error()}
	}
	return n, nil
}

// IsProblem reports whether err is a *Problem (a bad pack, not a failure
// to read it).
func IsProblem(err error) bool {
	var p *Problem
	return errors.As(err, &p)
}
