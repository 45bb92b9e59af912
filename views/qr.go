package views

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/a-h/templ"
	"rsc.io/qr"
)

// qrQuietZone is the white border the QR specification asks for, in
// modules.
const qrQuietZone = 4

// qrModulePixels is the rendered size of one module: the SVG scales, this
// only sets its default width and height.
const qrModulePixels = 4

// QRSVG renders text as a QR code (error correction level M) in an SVG
// that is safe to inline under the CSP: one path of the dark modules on a
// white square with a quiet zone, no script, no style attribute, and an
// accessible name. Runs of dark modules in a row become one rectangle,
// which keeps the path short.
func QRSVG(text string) (string, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("views: qr: %w", err)
	}
	n := code.Size + 2*qrQuietZone
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="QR code" shape-rendering="crispEdges">`,
		n, n, n*qrModulePixels, n*qrModulePixels)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; {
			if !code.Black(x, y) {
				x++
				continue
			}
			run := 1
			for code.Black(x+run, y) {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+qrQuietZone, y+qrQuietZone, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}

// QRCode is QRSVG as a component; an encoding error (text too long) fails
// the render, which the handler turns into a 500.
func QRCode(text string) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		svg, err := QRSVG(text)
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, svg)
		return err
	})
}
