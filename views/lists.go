package views

import (
	"net/url"
	"strconv"

	"github.com/a-h/templ"
)

// Count is the size of a filtered list: N rows match (at least N when
// AtLeast), out of Total rows in all, Shown on this page.
type Count struct {
	N       int64
	AtLeast bool
	Total   int64
	Shown   int
	// One and Many name the rows: "account", "accounts".
	One, Many string
	// Filtered says whether filters are in force (else N is the total).
	Filtered bool
}

// Text is the count as a sentence.
func (c Count) Text() string {
	noun := func(n int64) string {
		if n == 1 {
			return c.One
		}
		return c.Many
	}
	// The verb agrees with the rows that match: "1 of 8 rows matches".
	verb := " match"
	if c.N == 1 && !c.AtLeast {
		verb = " matches"
	}
	var s string
	switch {
	case c.Total == 0 && c.N == 0:
		s = "No " + c.Many + " yet"
	case !c.Filtered:
		s = Group(c.N) + " " + noun(c.N)
	case c.AtLeast:
		s = "At least " + Group(c.N) + " of " + Group(c.Total) + " " + noun(c.Total) + verb
	default:
		s = Group(c.N) + " of " + Group(c.Total) + " " + noun(c.Total) + verb
	}
	if int64(c.Shown) < c.N || c.AtLeast {
		s += "; " + strconv.Itoa(c.Shown) + " on this page"
	}
	return s
}

// Group formats a count with thousands separators: "70,000".
func Group(n int64) string {
	if n < 0 {
		return "-" + groupThousands(-n)
	}
	return groupThousands(n)
}

// Chip is one filter in force: its label, its value in words, how many
// rows it matches alone (-1 when not known) and the URL without it.
type Chip struct {
	Label, Value string
	N            int64
	Remove       string
}

// Sort is the order of a list by its indexed column: newest first (the
// default) or oldest first, and the URL of the other order.
type Sort struct {
	Oldest bool
	Toggle string
}

// ARIA is the aria-sort value of the column.
func (s Sort) ARIA() string {
	if s.Oldest {
		return "ascending"
	}
	return "descending"
}

// Arrow shows the order.
func (s Sort) Arrow() string {
	if s.Oldest {
		return "↑"
	}
	return "↓"
}

// Title says what a click does.
func (s Sort) Title() string {
	if s.Oldest {
		return "Oldest first; click for newest first"
	}
	return "Newest first; click for oldest first"
}

// ListURL builds a list URL from its path and query, leaving out empty
// values and the keys in drop (a chip's removal, the page cursor).
func ListURL(path string, q url.Values, drop ...string) string {
	v := url.Values{}
	for k, vals := range q {
		skip := false
		for _, d := range drop {
			if k == d {
				skip = true
			}
		}
		if skip {
			continue
		}
		for _, x := range vals {
			if x != "" {
				v.Add(k, x)
			}
		}
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// Panel is one live panel of a page: the sse-swap name its element
// listens to and the component that draws its inside.
type Panel struct {
	Name      string
	Component templ.Component
}
