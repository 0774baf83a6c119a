// The ready-made classes, embedded so `classctl` runs with no files next to it.
// Each literal is a copy of config/classes/<name>.yaml; ClassPlanTests checks that they match
// and that every one validates with no warnings.

public enum BuiltinPlans {
    /// The class `classctl start` runs when given no plan.
    public static let defaultName = "first-backward-walk"

    public static var `default`: ClassPlan {
        all[defaultName] ?? fallback
    }

    /// Parsed plans by name (the file name without ".yaml").
    public static let all: [String: ClassPlan] = {
        var plans: [String: ClassPlan] = [:]
        for (name, yaml) in sources {
            if let plan = PlanLoader.parse(yaml, file: "builtin:\(name)").plan { plans[name] = plan }
        }
        return plans
    }()

    /// Names in a sensible order for listings.
    public static var names: [String] { sources.map(\.name) }

    /// Used only if the embedded default failed to parse, which the tests rule out.
    private static let fallback = ClassPlan(
        title: "Backward walk", goal: .custom, safety: ["Use a flat, clear area and start slowly."],
        segments: [Segment(kind: .walk, title: "Backward walk", durationMs: 300_000)])

    /// The YAML text of each ready-made class.
    public static let sources: [(name: String, yaml: String)] = [
        ("first-backward-walk", #"""
# The default class: a first taste of backward walking for complete beginners.
title: First backward walk
goal: fitness
level: beginner
notes: >-
  A gentle introduction: five short backward walks with rests in between, then an easy
  cool-down. Good as a warm-up before other training or as a session of its own.
safety:
  - Use a flat, open area with nothing behind you (no kerbs, posts, bags or people).
  - Start slowly. If you feel unsteady, stop and turn to face forward.
  - Avoid sharp turns and uneven ground while you are learning.
  - If you have a balance disorder, ask a physical therapist before you join.
advance_when_done: 0.8
segments:
  - id: briefing
    kind: briefing
    title: How to walk backward
    duration: 2min
    cues:
      - Stand tall, eyes forward, shoulders relaxed.
      - at: 40s
        text: Glance over your shoulder once to check your lane is clear.
      - at: 80s
        text: Small steps. Reach back with the toes, then roll onto the heel.
  - id: walk
    kind: walk
    title: Backward walk
    distance: 25m
    pace: 45s
    rounds: 5
    rest: 30s
    cues:
      - Chest up, steps short and controlled. Tap done at the end.
  - id: rest
    kind: rest
    title: Shake it out
    duration: 1min
    cues:
      - Loosen your legs. Breathe easy.
  - id: cooldown
    kind: cooldown
    title: Easy cool-down walk
    duration: 3min
    cues:
      - Slow right down. Long spine, soft knees.
      - at: 1min
        text: Let your arms swing naturally.
      - at: 2:30
        text: Last thirty seconds. Come to a gentle stop.
"""#),
        ("knee-rehab", #"""
# Backward walking for people rebuilding knee strength: slow, steady, all walking.
title: Knee rehab backward walk
goal: rehab
level: beginner
notes: >-
  About twelve minutes of backward walking in total. The usual programme is two to three
  sessions a week. Follow your physiotherapist's advice over this plan.
safety:
  - Walk on a flat, clear surface; keep a wall or rail within reach if you like.
  - Start slowly and keep every step controlled.
  - Stop and tell the coach if anything feels sharp or wrong.
  - If you have a balance disorder, ask a physical therapist before you join.
advance_when_done: 0.8
segments:
  - id: briefing
    kind: briefing
    title: Today's walk
    duration: 90s
    cues:
      - Three blocks of slow backward walking, with a minute's break between them.
      - at: 45s
        text: Heel down softly, knee slightly bent, never locked.
  - id: walk
    kind: walk
    title: Slow backward walk
    duration: 3min
    rounds: 3
    rest: 1min
    cues:
      - Short, even steps. Stay tall.
      - at: 1min
        text: Push gently through the heel as you step back.
      - at: 2min
        text: Keep the pace steady. No rushing.
  - id: cooldown
    kind: cooldown
    title: Easy cool-down walk
    duration: 3min
    cues:
      - Slower still. Let the legs relax.
      - at: 2min
        text: Final minute. Breathe out and ease off.
"""#),
        ("fitness-jog-sets", #"""
# Backward jogging sets for people who already walk backward comfortably.
title: Backward jog sets
goal: fitness
level: intermediate
notes: >-
  Warm-up walks, then five sets of 50 m backward jogging with recovery in between.
  The usual programme is twice a week.
safety:
  - Jog only in a clear, flat lane with nothing behind you.
  - Take short, quick steps and keep your eyes forward, not on your feet.
  - Avoid sharp turns and uneven ground.
  - If you have a balance disorder, ask a physical therapist before you join.
advance_when_done: 0.8
segments:
  - id: briefing
    kind: briefing
    title: Plan for today
    duration: 1min
    cues:
      - Four warm-up walks, five jogging sets, then a cool-down.
      - at: 30s
        text: Use your side vision to stay in your lane.
  - id: warmup
    kind: walk
    title: Warm-up backward walk
    distance: 25m
    pace: 40s
    rounds: 4
    rest: 20s
    cues:
      - Controlled steps, tall posture.
  - id: sets
    kind: jog
    title: Backward jog
    distance: 50m
    pace: 30s
    rounds: 5
    rest: 1min
    cues:
      - Short, quick steps. Eyes forward. Tap done when you finish.
  - id: cooldown
    kind: cooldown
    title: Cool-down walk
    duration: 3min
    cues:
      - Back to an easy backward walk.
      - at: 90s
        text: Let the breathing settle.
"""#),
        ("athletic-agility", #"""
# Backward movement for athletes: warm-up, jogs, agility drills and short sprints.
title: Athletic backward agility
goal: athletic
level: advanced
notes: >-
  For athletes working on footwork and reaction time. The usual programme is two to three
  sessions a week, as part of regular training.
safety:
  - Mark out a clear, flat area; nobody stands in the lanes.
  - Build speed gradually through the session.
  - Change direction with small steps, never with a sudden twist.
  - If you have a balance disorder, ask a physical therapist before you join.
advance_when_done: 0.75
segments:
  - id: briefing
    kind: briefing
    title: Session outline
    duration: 1min
    cues:
      - Warm-up walks, jogs, agility drills, sprints, cool-down.
  - id: warmup
    kind: walk
    title: Warm-up backward walk
    distance: 30m
    pace: 40s
    rounds: 4
    rest: 15s
    cues:
      - Long spine, controlled steps.
  - id: jog
    kind: jog
    title: Backward jog
    distance: 40m
    pace: 20s
    rounds: 4
    rest: 30s
    cues:
      - Quick feet, eyes up.
  - id: agility
    kind: agility
    title: Backward shuffle and react
    duration: 30s
    rounds: 6
    rest: 45s
    cues:
      - Backward on the whistle, stop on the clap.
      - at: 15s
        text: Stay low and light on your feet.
  - id: sprint
    kind: sprint
    title: Backward sprint
    distance: 20m
    pace: 8s
    rounds: 4
    rest: 1min
    cues:
      - Drive the arms, short fast steps. Decelerate before the line.
  - id: cooldown
    kind: cooldown
    title: Cool-down walk
    duration: 4min
    cues:
      - Easy backward walk. Shake out the legs.
      - at: 2min
        text: Slow down further. Breathe out long.
"""#),
        ("senior-mobility", #"""
# Gentle backward walking for older adults working on mobility and balance.
title: Senior mobility walk
goal: senior
level: beginner
notes: >-
  Five minutes of backward walking in short blocks, with plenty of rest. The usual
  programme is three times a week; a few minutes daily is fine too.
safety:
  - Walk on a flat, non-slip floor with nothing behind you.
  - Keep a wall, rail or partner within reach, and wear supportive shoes.
  - Go slowly; stop and turn to face forward whenever you feel unsure.
  - If you have a balance disorder or have fallen recently, ask a physical therapist before you join.
advance_when_done: 0.8
segments:
  - id: briefing
    kind: briefing
    title: Before we start
    duration: 2min
    cues:
      - Feet hip-width apart. Stand tall and find your balance.
      - at: 40s
        text: Check behind you, then keep your eyes forward.
      - at: 80s
        text: Tiny steps back, toes first, then the heel.
  - id: walk
    kind: walk
    title: Backward walk
    duration: 1min
    rounds: 4
    rest: 45s
    cues:
      - Small, slow steps. Hold the rail if you want.
      - at: 30s
        text: Shoulders relaxed, head up.
  - id: cooldown
    kind: cooldown
    title: Gentle cool-down walk
    duration: 1min
    cues:
      - Slower and smaller steps. Come to a calm stop.
"""#),
        ("treadmill-incline", #"""
# Backward walking on a treadmill with a slight incline, at low speed, holding the handrails.
title: Treadmill incline backward walk
goal: fitness
level: beginner
notes: >-
  Low speeds (1.5 to 2 mph) on a slight incline (5 to 10%). Hold the handrails the whole time.
safety:
  - Clip the safety key to your clothing before the belt starts.
  - Hold the handrails throughout; start the belt before you step on.
  - Keep speeds low and raise the incline, not the speed.
  - If you have a balance disorder, ask a physical therapist before you join.
segments:
  - id: briefing
    kind: briefing
    title: Treadmill set-up
    duration: 2min
    cues:
      - Face away from the console. Safety key on. Hands on the rails.
      - at: 1min
        text: Belt at 1.5 mph, incline flat. Step on carefully.
  - id: flat
    kind: treadmill
    title: Flat backward walk
    duration: 3min
    speed: 1.5mph
    incline: 0%
    cues:
      - Small steps, hold the rails, eyes forward.
  - id: incline
    kind: treadmill
    title: Incline backward walk
    duration: 2min
    speed: 1.8mph
    incline: 6%
    rounds: 3
    rest: 1min
    cues:
      - Incline to 6 percent. Push through the whole foot.
      - at: 1min
        text: Stay tall. Keep holding on.
  - id: steeper
    kind: treadmill
    title: Steeper incline
    duration: 2min
    speed: 2mph
    incline: 9%
    cues:
      - Incline to 9 percent, speed 2 mph. Short, steady steps.
  - id: cooldown
    kind: cooldown
    title: Cool-down
    duration: 3min
    cues:
      - Incline back to flat, speed down to 1.5 mph.
      - at: 2min
        text: Last minute. Stop the belt before you step off.
"""#),
    ]
}
