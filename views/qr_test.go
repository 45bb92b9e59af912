package views_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"rsc.io/qr"

	"linkdesk/views"
)

var qrRun = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

func TestQRSVG(t *testing.T) {
	text := "http://127.0.0.1:8080/l/lt_01HXYZ?token=abc&x=<script>"
	svg, err := views.QRSVG(text)
	if err != nil {
		t.Fatal(err)
	}
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	n := code.Size + 8
	if !strings.Contains(svg, fmt.Sprintf(`viewBox="0 0 %d %d"`, n, n)) {
		t.Fatalf("viewBox does not match a %d-module code plus the quiet zone", code.Size)
	}
	for _, want := range []string{`role="img"`, `aria-label="QR code"`, `xmlns="http://www.w3.org/2000/svg"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %s", want)
		}
	}
	for _, bad := range []string{"<script", "style=", "javascript:", "on", "<foreignObject", "token=abc"} {
		if bad == "on" {
			if regexp.MustCompile(`\son[a-z]+=`).MatchString(svg) {
				t.Error("svg has an event handler attribute")
			}
			continue
		}
		if strings.Contains(svg, bad) {
			t.Errorf("svg contains %q", bad)
		}
	}

	// Rebuild the module grid from the path and compare with the code.
	grid := make([][]bool, code.Size)
	for i := range grid {
		grid[i] = make([]bool, code.Size)
	}
	dark := 0
	for _, m := range qrRun.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		x, y = x-4, y-4
		if x < 0 || y < 0 || x+w > code.Size || y >= code.Size {
			t.Fatalf("run %s outside the code area", m[0])
		}
		for i := range w {
			if grid[y][x+i] {
				t.Fatalf("module %d,%d drawn twice", x+i, y)
			}
			grid[y][x+i] = true
			dark++
		}
	}
	want := 0
	for y := range code.Size {
		for x := range code.Size {
			if code.Black(x, y) {
				want++
			}
			if grid[y][x] != code.Black(x, y) {
				t.Fatalf("module %d,%d: svg %v, code %v", x, y, grid[y][x], code.Black(x, y))
			}
		}
	}
	if dark != want || dark == 0 {
		t.Fatalf("dark modules: svg %d, code %d", dark, want)
	}
}

func TestQRCode_TooLong(t *testing.T) {
	var buf bytes.Buffer
	if err := views.QRCode(strings.Repeat("x", 4000)).Render(context.Background(), &buf); err == nil {
		t.Fatal("want an error for text that does not fit")
	}
	if _, err := views.QRSVG(strings.Repeat("x", 4000)); err == nil {
		t.Fatal("want an error")
	}
}
