package db

import (
	"testing"

	"linkdesk/pinwheel"
)

// TestProjectors_FollowTheCatalogue: an event with its own projection is in
// the catalogue (pinwheel.Events), and every catalogue event has a
// projection. TestEventCatalogue (package main) ingests one of each.
func TestProjectors_FollowTheCatalogue(t *testing.T) {
	for name := range projectors {
		if _, ok := pinwheel.LookupEvent(name); !ok {
			t.Errorf("projectors[%q]: not in pinwheel.Events", name)
		}
	}
	for _, e := range pinwheel.Events {
		if projectorOf(e.Name) == nil {
			t.Errorf("%s has no projection", e.Name)
		}
	}
	if projectorOf("no.such.event") != nil {
		t.Error("an unknown event is projected")
	}
}
