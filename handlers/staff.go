package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// StaffIndex handles GET /staff (admins).
func (h *Handler) StaffIndex(c echo.Context) error {
	return h.staffPage(c, http.StatusOK, views.StaffForm{Role: db.RoleOperator})
}

func (h *Handler) staffPage(c echo.Context, status int, f views.StaffForm) error {
	ctx := c.Request().Context()
	list, err := h.store.ListStaff(ctx)
	if err != nil {
		return err
	}
	var sec views.StaffSecurityProps
	if sec.Required, err = h.store.SecondFactorRequired(ctx); err != nil {
		return err
	}
	if sec.Throttles, err = h.store.ListThrottles(ctx); err != nil {
		return err
	}
	return h.render(c, status, views.StaffIndex(h.page(c, "Staff"), list, f, sec))
}

// StaffCreate handles POST /staff (admins).
func (h *Handler) StaffCreate(c echo.Context) error {
	f := views.StaffForm{Email: c.FormValue("email"), Name: c.FormValue("name"), Role: c.FormValue("role"), Password: c.FormValue("password")}
	st, err := h.store.CreateStaff(c.Request().Context(), actor(c), db.StaffCreate{Email: f.Email, Name: f.Name, Role: f.Role, Password: f.Password})
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = views.Errors(fe)
		return h.staffPage(c, http.StatusUnprocessableEntity, f)
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Added "+st.Email+" as "+st.Role+".")
	return c.Redirect(http.StatusSeeOther, "/staff")
}

// StaffRole handles POST /staff/:id/role (admins).
func (h *Handler) StaffRole(c echo.Context) error {
	role := c.FormValue("role")
	return h.staffUpdate(c, db.StaffUpdate{Role: &role}, "Role changed to "+role+".")
}

// staffByParam reads the staff member of the :id path parameter.
func (h *Handler) staffByParam(c echo.Context) (db.Staff, error) {
	id, err := pathID(c)
	if err != nil {
		return db.Staff{}, err
	}
	return h.store.StaffByID(c.Request().Context(), id)
}

// StaffRoleConfirm handles GET /staff/:id/role?role= (admins): what the
// new role changes, and the button that changes it.
func (h *Handler) StaffRoleConfirm(c echo.Context) error {
	st, err := h.staffByParam(c)
	if err != nil {
		return err
	}
	to := c.QueryParam("role")
	action := "/staff/" + strconv.FormatInt(st.ID, 10) + "/role"
	if !slices.Contains(db.Roles, to) {
		// Reached without a role: ask for one, saying what each means.
		ch := &views.ConfirmChoice{Name: "role", Label: "New role", Selected: st.Role}
		var effects []string
		for _, r := range db.Roles {
			ch.Options = append(ch.Options, [2]string{r, r})
			effects = append(effects, "An "+r+": "+views.RoleMeaning(r))
		}
		return h.confirm(c, views.Confirm{Title: "Change the role of " + st.Name + " (now " + st.Role + ")", Effects: effects,
			Action: action, Choice: ch, Submit: "Change role", Cancel: "/staff"})
	}
	cf := views.Confirm{
		Title: "Make " + st.Name + " an " + to + "?", Action: action,
		Fields: [][2]string{{"role", to}}, Submit: "Change role to " + to, Cancel: "/staff",
	}
	if to == st.Role {
		cf.Title, cf.Effects = st.Name+" is already an "+to+".", []string{"Nothing will change."}
	} else {
		cf.Effects = append(cf.Effects, "From "+st.Role+" to "+to+": "+views.RoleMeaning(to), "It takes effect on their next click; the change is recorded in the audit trail.")
	}
	return h.confirm(c, cf)
}

// StaffDeactivateConfirm handles GET /staff/:id/deactivate (admins): what
// deactivating does, and the button that does it.
func (h *Handler) StaffDeactivateConfirm(c echo.Context) error {
	st, err := h.staffByParam(c)
	if err != nil {
		return err
	}
	return h.confirm(c, views.Confirm{
		Title: "Deactivate " + st.Name + "?",
		Effects: []string{
			st.Name + " (" + st.Email + ") is signed out everywhere on their next click and can no longer sign in.",
			"Their audit trail and the links they created stay as they are.",
			"An admin can reactivate them later.",
		},
		Action: "/staff/" + strconv.FormatInt(st.ID, 10) + "/deactivate", Submit: "Deactivate " + st.Name, Cancel: "/staff", Danger: true,
	})
}

// StaffDeactivate handles POST /staff/:id/deactivate (admins).
func (h *Handler) StaffDeactivate(c echo.Context) error {
	off := false
	return h.staffUpdate(c, db.StaffUpdate{Active: &off}, "Deactivated. They lose access on their next request.")
}

// StaffReactivate handles POST /staff/:id/reactivate (admins).
func (h *Handler) StaffReactivate(c echo.Context) error {
	on := true
	return h.staffUpdate(c, db.StaffUpdate{Active: &on}, "Reactivated.")
}

func (h *Handler) staffUpdate(c echo.Context, u db.StaffUpdate, done string) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	_, err = h.store.UpdateStaff(c.Request().Context(), actor(c), id, u)
	var fe db.FieldErrors
	switch {
	case errors.Is(err, db.ErrLastAdmin):
		h.flash(c, "error", "The last active admin can be neither deactivated nor demoted. Make someone else an admin first.")
		return c.Redirect(http.StatusSeeOther, "/staff")
	case errors.As(err, &fe):
		h.flash(c, "error", "Choose admin, operator or auditor.")
		return c.Redirect(http.StatusSeeOther, "/staff")
	case err != nil:
		return err
	}
	h.flash(c, "ok", done)
	return c.Redirect(http.StatusSeeOther, "/staff")
}

// StaffAccess handles POST /staff/:id/access (admins): the last day
// (UTC, included) an auditor account may sign in; empty clears it. After
// it the person cannot sign in and their open sessions end.
func (h *Handler) StaffAccess(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var until time.Time
	if v := c.FormValue("access_until"); v != "" {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			h.flash(c, "error", "Enter the last day of access as YYYY-MM-DD.")
			return c.Redirect(http.StatusSeeOther, "/staff")
		}
		until = d.AddDate(0, 0, 1) // access ends when the day does
	}
	st, err := h.store.SetAccessUntil(c.Request().Context(), actor(c), id, until)
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		h.flash(c, "error", fe["access_until"])
		return c.Redirect(http.StatusSeeOther, "/staff")
	case err != nil:
		return err
	}
	if until.IsZero() {
		h.flash(c, "ok", st.Email+" has no access end date.")
	} else {
		h.flash(c, "ok", st.Email+" can sign in until the end of "+until.AddDate(0, 0, -1).Format(time.DateOnly)+" (UTC).")
	}
	return c.Redirect(http.StatusSeeOther, "/staff")
}
