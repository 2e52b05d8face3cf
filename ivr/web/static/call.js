// The call view: the transcript follows the recording. Click (or Enter on) a turn to play
// from its start; the turn being played is highlighted. Times come from the server in
// seconds of the recording (data-start / data-end).
(function () {
  "use strict";
  var player = document.getElementById("player");
  var turns = Array.prototype.slice.call(document.querySelectorAll("#turns .turn"));
  if (!player || turns.length === 0) { return; }

  function start(turn) { return parseFloat(turn.dataset.start); }

  function playFrom(turn) {
    player.currentTime = start(turn);
    var playing = player.play();
    if (playing && playing.catch) { playing.catch(function () {}); }  // autoplay refused: seek only
    highlight();
  }

  function current(t) {
    // the last turn that started at or before t (turns are in time order)
    var found = null;
    for (var i = 0; i < turns.length; i++) {
      if (start(turns[i]) <= t + 0.05) { found = turns[i]; } else { break; }
    }
    return found;
  }

  function highlight() {
    var now = current(player.currentTime);
    turns.forEach(function (turn) {
      var on = turn === now;
      if (on !== turn.classList.contains("playing")) {
        turn.classList.toggle("playing", on);
        if (on && !player.paused) { turn.scrollIntoView({block: "nearest"}); }
      }
    });
  }

  turns.forEach(function (turn) {
    turn.addEventListener("click", function () { playFrom(turn); });
    turn.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); playFrom(turn); }
    });
  });
  ["timeupdate", "seeked", "play"].forEach(function (name) {
    player.addEventListener(name, highlight);
  });
})();
