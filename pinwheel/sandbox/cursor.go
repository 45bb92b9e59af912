package sandbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strconv"

	"linkdesk/pinwheel"
)

// cursor is a pagination position. On the wire it is a Fernet token, the
// format of the recorded sandbox cursor (gAAAAAB…, docs/pinwheel.md#pagination):
// opaque to clients, who cannot read or forge it.
type cursor struct {
	Seq   int64  `json:"seq,omitempty"`
	Index int    `json:"index,omitempty"`
	Key   string `json:"key,omitempty"`
}

// cursorKeys returns the Fernet signing and encryption keys, derived from
// the API secret so a cursor of one secret is refused by another.
func (e *Emulator) cursorKeys() (sign, enc []byte) {
	mac := hmac.New(sha256.New, []byte(e.cfg.Secret))
	mac.Write([]byte("pinwheel-sandbox cursor"))
	k := mac.Sum(nil)
	return k[:16], k[16:]
}

// encodeCursor seals c as a Fernet token (version 0x80, timestamp, IV,
// AES-128-CBC ciphertext, HMAC-SHA256), base64url with padding.
func (e *Emulator) encodeCursor(c cursor) *string {
	plain, _ := json.Marshal(c)
	signKey, encKey := e.cursorKeys()
	block, _ := aes.NewCipher(encKey)
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	var iv [aes.BlockSize]byte
	_, _ = rand.Read(iv[:])
	msg := make([]byte, 0, 1+8+len(iv)+len(plain)+sha256.Size)
	msg = append(msg, 0x80)
	msg = binary.BigEndian.AppendUint64(msg, uint64(e.now().Unix()))
	msg = append(msg, iv[:]...)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv[:]).CryptBlocks(ct, plain)
	msg = append(msg, ct...)
	mac := hmac.New(sha256.New, signKey)
	mac.Write(msg)
	msg = mac.Sum(msg)
	s := base64.URLEncoding.EncodeToString(msg)
	return &s
}

// decodeCursor opens a cursor of encodeCursor; "" is the first page.
func (e *Emulator) decodeCursor(s string) (cursor, bool) {
	var c cursor
	if s == "" {
		return c, true
	}
	raw, err := base64.URLEncoding.DecodeString(s)
	if err != nil || len(raw) < 1+8+aes.BlockSize+aes.BlockSize+sha256.Size || raw[0] != 0x80 {
		return c, false
	}
	signKey, encKey := e.cursorKeys()
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	mac := hmac.New(sha256.New, signKey)
	mac.Write(body)
	if !hmac.Equal(sum, mac.Sum(nil)) {
		return c, false
	}
	iv, ct := body[9:9+aes.BlockSize], body[9+aes.BlockSize:]
	if len(ct)%aes.BlockSize != 0 {
		return c, false
	}
	block, _ := aes.NewCipher(encKey)
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize || pad > len(plain) {
		return c, false
	}
	if json.Unmarshal(plain[:len(plain)-pad], &c) != nil {
		return c, false
	}
	return c, true
}

// pageParams reads limit (1–100, default def) and cursor.
func (e *Emulator) pageParams(r *http.Request, def int) (int, cursor, *pinwheel.Error) {
	q := r.URL.Query()
	limit := def
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return 0, cursor{}, invalid(codeValidation, "Validation error.",
				pinwheel.FieldError{Name: "limit", Message: "Must be an integer between 1 and 100."})
		}
		limit = n
	}
	c, ok := e.decodeCursor(q.Get("cursor"))
	if !ok {
		return 0, cursor{}, invalid(codeInvalidCursor, "Invalid cursor.",
			pinwheel.FieldError{Name: "cursor", Message: "Invalid cursor."})
	}
	return limit, c, nil
}
