package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Documents: paystubs and tax forms carry a document object whose
// download_url is pre-signed and valid for 900 s, like the recorded sandbox's
// S3 URLs (docs/pinwheel.md#paystubs). The emulator serves the files itself
// under /files/{account}/{kind}/{document}.pdf with the same query shape, and
// refuses an expired or altered URL with 403 like S3.

const (
	docPaystub = "paystub"
	docTaxForm = "tax_form"
	// documentTTL is how long a download URL works (recorded X-Amz-Expires).
	documentTTL = 900 * time.Second
	amzDate     = "20060102T150405Z"
)

func (e *Emulator) documentKey() []byte {
	mac := hmac.New(sha256.New, []byte(e.cfg.Secret))
	mac.Write([]byte("pinwheel-sandbox document"))
	return mac.Sum(nil)
}

func (e *Emulator) documentSignature(account, kind, doc, date string) string {
	mac := hmac.New(sha256.New, e.documentKey())
	fmt.Fprintf(mac, "%s\n%s\n%s\n%s", account, kind, doc, date)
	return hex.EncodeToString(mac.Sum(nil))
}

// documentURL is a download URL valid for documentTTL from now.
func (e *Emulator) documentURL(account, kind, doc string) string {
	date := e.now().Format(amzDate)
	q := url.Values{}
	q.Set("response-content-type", "application/pdf")
	q.Set("X-Amz-Date", date)
	q.Set("X-Amz-Expires", "900")
	q.Set("X-Amz-Signature", e.documentSignature(account, kind, doc, date))
	return e.cfg.PublicURL + "/files/" + account + "/" + kind + "/" + doc + ".pdf?" + q.Encode()
}

// documentObj is the recorded paystub document object {id, download_url,
// download_url_expiration}.
func (e *Emulator) documentObj(account, kind, doc string) obj {
	return obj{{"id", doc}, {"download_url", e.documentURL(account, kind, doc)},
		{"download_url_expiration", e.now().Add(documentTTL)}}
}

// serveDocument handles GET /files/{account}/{kind}/{file}.
func (e *Emulator) serveDocument(w http.ResponseWriter, r *http.Request) {
	account, kind := r.PathValue("account"), r.PathValue("kind")
	doc, ok := strings.CutSuffix(r.PathValue("file"), ".pdf")
	q := r.URL.Query()
	date := q.Get("X-Amz-Date")
	signed, err := time.Parse(amzDate, date)
	want := e.documentSignature(account, kind, doc, date)
	switch {
	case !ok || err != nil || !hmac.Equal([]byte(q.Get("X-Amz-Signature")), []byte(want)):
		http.Error(w, "AccessDenied: the request signature does not match", http.StatusForbidden)
		return
	case e.now().After(signed.Add(documentTTL)):
		http.Error(w, "AccessDenied: request has expired", http.StatusForbidden)
		return
	}
	a, err := e.store.account(r.Context(), e.store.db, account)
	if err != nil {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	var lines []string
	switch kind {
	case docPaystub:
		if err := loadPayExtras(r.Context(), e.store.db, a); err != nil {
			http.Error(w, "InternalError", http.StatusInternalServerError)
			return
		}
		for _, p := range genPaystubs(a) {
			if p.Document != nil && p.Document.ID == doc {
				lines = paystubLines(p.Paystub)
			}
		}
	case docTaxForm:
		for _, f := range genTaxForms(a) {
			if f.DocumentID == doc {
				lines = taxFormLines(a, f)
			}
		}
	}
	if lines == nil {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Cache-Control", "private, max-age=900")
	_, _ = w.Write(simplePDF(lines))
}

func money(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }

func paystubLines(p pinwheel.Paystub) []string {
	lines := []string{"Pay statement (Pinwheel sandbox emulator)", "Pay date: " + p.PayDate}
	if p.PayPeriodStart != nil && p.PayPeriodEnd != nil {
		lines = append(lines, "Pay period: "+*p.PayPeriodStart+" to "+*p.PayPeriodEnd)
	}
	if p.EmployerName != nil {
		lines = append(lines, "Employer: "+*p.EmployerName)
	}
	lines = append(lines, "Gross pay: "+money(p.GrossPayAmount), "Taxes: "+money(p.TotalTaxes),
		"Deductions: "+money(p.TotalDeductions), "Net pay: "+money(p.NetPayAmount))
	return lines
}

// simplePDF renders lines of text as a one-page PDF (Helvetica, ASCII; other
// characters become "?").
func simplePDF(lines []string) []byte {
	var content bytes.Buffer
	content.WriteString("BT /F1 12 Tf 72 740 Td 16 TL\n")
	for _, l := range lines {
		var esc strings.Builder
		for _, r := range l {
			switch {
			case r == '(' || r == ')' || r == '\\':
				esc.WriteByte('\\')
				esc.WriteRune(r)
			case r < 0x20 || r > 0x7e:
				esc.WriteByte('?')
			default:
				esc.WriteRune(r)
			}
		}
		fmt.Fprintf(&content, "(%s) Tj T*\n", esc.String())
	}
	content.WriteString("ET\n")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
