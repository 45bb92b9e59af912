package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// CustomersIndex handles GET /customers (all staff): records in end_user_id
// order, ?q= an end_user_id prefix, ?after= the keyset cursor.
func (h *Handler) CustomersIndex(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	after := c.QueryParam("after")
	if len(q) > 255 || len(after) > 255 {
		return echo.NewHTTPError(http.StatusBadRequest, "The search text is too long.")
	}
	list, more, err := h.store.ListCustomers(c.Request().Context(), db.CustomerFilter{Prefix: q, After: after, Limit: 50})
	if err != nil {
		return err
	}
	props := views.CustomersProps{List: list, Query: q, CanEdit: staff(c).IsAdmin()}
	// The count line: the records in all (more than 100,000 are counted as
	// that many; a count of more is not worth the read) and, with a prefix,
	// those it matches up to countLimit. Both read the primary key's range.
	total, _, err := h.store.CountCustomers(c.Request().Context(), "", customerTotalLimit)
	if err != nil {
		return err
	}
	n, moreN := total, false
	if q != "" {
		if n, moreN, err = h.store.CountCustomers(c.Request().Context(), q, countLimit); err != nil {
			return err
		}
		props.Chips = []views.Chip{chip(c, "/customers", "q", "End user ID starts with", q, n)}
		if moreN {
			props.Chips[0].N = -1
		}
	}
	props.Count = listCount(n, moreN, total, len(list), q != "", "customer record", "customer records")
	if more {
		v := url.Values{"after": {list[len(list)-1].EndUserID}}
		if q != "" {
			v.Set("q", q)
		}
		props.Next = "/customers?" + v.Encode()
	}
	return h.render(c, http.StatusOK, views.CustomersIndex(h.page(c, "Customers"), props))
}

// customerTotalLimit bounds the count of all customer records on /customers.
const customerTotalLimit = 100000

// CustomerShow handles GET /customers/:end_user_id (all staff). Without a
// record it still answers 200: admins get the form that creates one.
func (h *Handler) CustomerShow(c echo.Context) error {
	id, err := pathParam(c, "end_user_id")
	if err != nil {
		return err
	}
	return h.customerPage(c, http.StatusOK, id, nil)
}

// customerPage renders one customer's page; a nil form means the stored
// values.
func (h *Handler) customerPage(c echo.Context, status int, id string, form *views.CustomerForm) error {
	ctx := c.Request().Context()
	props := views.CustomerShowProps{EndUserID: id, CanEdit: staff(c).IsAdmin()}
	cu, err := h.store.CustomerByEndUserID(ctx, id)
	switch {
	case err == nil:
		props.Customer = &cu
		props.Form = views.CustomerFormOf(cu)
	case !errors.Is(err, db.ErrNotFound):
		return err
	}
	if form != nil {
		props.Form = *form
	}
	if props.Verdicts, err = h.store.IdentityVerdictsOf(ctx, id); err != nil {
		return err
	}
	return h.render(c, status, views.CustomerShow(h.page(c, "Customer "+id), props))
}

// CustomerUpdate handles POST /customers/:end_user_id (admins): creates or
// edits the record.
func (h *Handler) CustomerUpdate(c echo.Context) error {
	id, err := pathParam(c, "end_user_id")
	if err != nil {
		return err
	}
	f := views.CustomerForm{FullName: c.FormValue("full_name"), DateOfBirth: c.FormValue("date_of_birth"), SSNLast4: c.FormValue("ssn_last4"), Email: c.FormValue("email")}
	_, created, err := h.store.SaveCustomer(c.Request().Context(), actor(c), db.CustomerInput{
		EndUserID: id, FullName: f.FullName, DateOfBirth: f.DateOfBirth, SSNLast4: f.SSNLast4, Email: f.Email,
	})
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = views.Errors(fe)
		return h.customerPage(c, http.StatusUnprocessableEntity, id, &f)
	case err != nil:
		return err
	}
	if created {
		h.flash(c, "ok", "Customer record created.")
	} else {
		h.flash(c, "ok", "Customer record saved.")
	}
	return c.Redirect(http.StatusSeeOther, views.CustomerPath(id))
}

// CustomerImportNew handles GET /customers/import (admins).
func (h *Handler) CustomerImportNew(c echo.Context) error {
	return h.render(c, http.StatusOK, views.CustomerImportNew(h.page(c, "Import customers"), ""))
}

// CustomerImportCreate handles POST /customers/import (admins): it checks
// the uploaded CSV and keeps it pending; nothing is imported until the
// confirmation.
func (h *Handler) CustomerImportCreate(c echo.Context) error {
	fileErr := func(msg string) error {
		return h.render(c, http.StatusUnprocessableEntity, views.CustomerImportNew(h.page(c, "Import customers"), msg))
	}
	fh, err := c.FormFile("file")
	var he *echo.HTTPError
	switch {
	case errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart):
		return fileErr("Choose a CSV file to upload.")
	case errors.As(err, &he):
		return err
	case err != nil:
		return echo.NewHTTPError(http.StatusBadRequest, "The upload could not be read. Try again.")
	case fh.Size > db.MaxImportBytes:
		return fileErr(fmt.Sprintf("The file is %.1f MiB; the limit is 5 MiB. Split it into smaller files.", float64(fh.Size)/(1<<20)))
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	ci, err := h.store.CreateCustomerImport(c.Request().Context(), actor(c), fh.Filename, f)
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		return fileErr(fe["file"])
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, views.CustomerImportPath(ci.ID))
}

// errImportGone is the 404 of an unknown or expired upload.
func errImportGone() error {
	return echo.NewHTTPError(http.StatusNotFound, "This upload is no longer here: uploads wait one hour for confirmation. Upload the file again.")
}

// CustomerImportShow handles GET /customers/import/:import_id (admins): the
// per-row report and the confirmation button.
func (h *Handler) CustomerImportShow(c echo.Context) error {
	ci, err := h.store.CustomerImportByID(c.Request().Context(), c.Param("import_id"))
	if errors.Is(err, db.ErrNotFound) {
		return errImportGone()
	}
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.CustomerImportShow(h.page(c, "Import customers"), ci))
}

// CustomerImportConfirm handles POST /customers/import/:import_id/confirm
// (admins): the good rows are upserted in one transaction.
func (h *Handler) CustomerImportConfirm(c echo.Context) error {
	id := c.Param("import_id")
	ci, err := h.store.ConfirmCustomerImport(c.Request().Context(), actor(c), id)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return errImportGone()
	case errors.Is(err, db.ErrImportConfirmed):
		h.flash(c, "warn", "This file was imported already; nothing was done again.")
	case errors.Is(err, db.ErrNothingToImport):
		h.flash(c, "error", "No row of this file can be imported.")
	case err != nil:
		return err
	default:
		h.flash(c, "ok", "Imported "+views.Plural(ci.GoodCount, "row", "rows")+".")
	}
	return c.Redirect(http.StatusSeeOther, views.CustomerImportPath(id))
}
