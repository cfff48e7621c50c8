// Package hunt holds the rules of the treasure-hunt game as pure,
// deterministic functions: a State and one input event in, the new State and
// the derived events out.
//
// Input events are cairn.hunt.v1 PlayerRegistered, HuntCreated,
// PlayerJoinedHunt and AnswerSubmitted. Derived events are ClueUnlocked,
// AnswerJudged and HuntCompleted. The package reads no clock and draws no
// random numbers: every time comes from an event's timestamp, and no output
// depends on map iteration order, so replaying the same events in the same
// order always yields the same state and the same derived events.
//
// Rules that the schemas leave open are decided here:
//
//   - A player may join a hunt any time before it ends, including before it
//     starts. The first clue is unlocked at the later of joined_at and the
//     hunt's starts_at, so a player who joins early sees unlocked_at =
//     starts_at.
//   - A join the rules refuse (the hunt has ended or is full) returns an
//     error wrapping ErrHuntEnded or ErrHuntFull, since no derived event
//     exists to tell the player. Joining again is a no-op.
//   - An answer is too early when submitted before the player's first clue
//     was unlocked (before starts_at, or before the player joined), and too
//     late at or after ends_at. Then come: not the current clue (any other
//     clue id, including every answer after completing), rate limited, and
//     finally correct or wrong. A text answer to a place, or a position
//     given for a text clue, is wrong.
//   - After WrongAnswerLimit wrong answers in a row, an answer submitted less
//     than Cooldown after the latest wrong one is rate limited. A rate-limited
//     answer is not judged: it neither extends the wait nor counts as wrong.
//     The streak keeps counting after the wait, so each further wrong answer
//     starts another Cooldown; a correct answer resets it.
//   - Players need not be registered to join or answer: registrations come on
//     another topic and may arrive late. Display names are looked up when
//     read, so a late registration fills them in; until then they are empty.
//     A second registration of the same player replaces the display name.
//   - Elapsed time in HuntCompleted runs from joined_at to the correct last
//     answer's submitted_at, as the schema says.
//
// An event that cannot apply leaves the State unchanged and returns a
// *RejectedError wrapping one of the Err… sentinels. These promises hold for
// States built by Apply and for their JSON encodings; a State edited by hand
// may break them.
package hunt
