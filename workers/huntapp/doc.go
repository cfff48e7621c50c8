// Package huntapp is the treasure hunt as an application on the workers
// runtime. It holds:
//
//   - the hunt tables (a hunt's definition and counters, a row per
//     entrant and per registered player, and the counts that rank
//     entrants) and their migrations per database engine;
//   - the apply adapter (App.Apply): it loads the hunts and players a
//     batch touches, runs the pure game rules of package hunt, saves what
//     changed and returns the derived events, each keyed as its schema
//     says;
//   - HuntService (cairn.hunt.v1), read from the hunt tables;
//   - the WatchPlayer feed, which follows the derived events' topic, and
//     the hub that hands each derived event to its player's streams.
//
// Adding a derived event type is a change to its .proto, to package hunt
// (which derives it) and, when WatchPlayer carries it, to watchResponse
// here.
package huntapp
