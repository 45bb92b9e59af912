package handlers

import (
	"net/url"

	"github.com/labstack/echo/v4"

	"linkdesk/views"
)

// What every list page shares: the result count, the chips of the filters
// in force and the order of its one sortable column.

// countLimit bounds the counting of a filtered list: beyond it the page
// says "more than 1,000".
const countLimit = 1000

// cursorKeys are the query parameters that hold a list's page position:
// changing a filter or the order starts over from the first page.
var cursorKeys = []string{"after", "before"}

// orderOldest is the value of ?order= that lists oldest first.
const orderOldest = "oldest"

// listCount builds the count line of a list.
func listCount(n int64, more bool, total int64, shown int, filtered bool, one, many string) views.Count {
	if !filtered {
		n, more = total, false
	}
	return views.Count{N: n, AtLeast: more, Total: total, Shown: shown, One: one, Many: many, Filtered: filtered}
}

// chip is the chip of filter key (shown as label: value), matching n rows
// alone (-1 when not known); its link is the list without that filter.
func chip(c echo.Context, path, key, label, value string, n int64) views.Chip {
	return chipOf(path, c.QueryParams(), key, label, value, n)
}

// chipOf is chip for the filter q (a form re-rendered after a POST has
// its filter in the form, not in the URL).
func chipOf(path string, q url.Values, key, label, value string, n int64) views.Chip {
	drop := append([]string{key}, cursorKeys...)
	return views.Chip{Label: label, Value: value, N: n, Remove: views.ListURL(path, q, drop...)}
}

// listSort reads ?order= and builds the link that reverses it, keeping the
// filters and starting from the first page.
func listSort(c echo.Context, path string) views.Sort {
	s := views.Sort{Oldest: c.QueryParam("order") == orderOldest}
	q := url.Values{}
	for k, v := range c.QueryParams() {
		q[k] = v
	}
	if s.Oldest {
		q.Del("order")
	} else {
		q.Set("order", orderOldest)
	}
	s.Toggle = views.ListURL(path, q, cursorKeys...)
	return s
}
